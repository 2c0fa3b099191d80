"""The Airflow connection and the dbt profile made from it: the ``kyuubi`` connection type
(:mod:`.provider`), the profile mapping (:mod:`.profile`), the endpoint's own answer before dbt starts
(:mod:`.endpoint`).

May import: :mod:`~dbt_spark_operator.errors`, :mod:`~dbt_spark_operator.compat`, Cosmos's profile base
class. Nothing of the task graph, the runtimes or the pods.
"""
