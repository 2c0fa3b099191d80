"""The nine dbt command operators (:mod:`.operators`) and the one table of which command takes which
flag (:mod:`.flags`).

May import: :mod:`~dbt_spark_operator.execution`, :mod:`~dbt_spark_operator.connection`,
:mod:`~dbt_spark_operator.project`, :mod:`~dbt_spark_operator.runtime` (how a command's pod
runs), :mod:`~dbt_spark_operator.pod`, :mod:`~dbt_spark_operator.results`.
"""
