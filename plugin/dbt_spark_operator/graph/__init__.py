"""The task graph: :func:`~.task_group.dbt_task_group` (a Cosmos ``DbtTaskGroup``, a task per node),
one task per dbt test (:mod:`.per_test`), every node's relation an Airflow asset (:mod:`.assets`), and
what the package keeps on a task (:mod:`.dbt_task`).

May import: :mod:`~dbt_spark_operator.execution`, :mod:`~dbt_spark_operator.connection`,
:mod:`~dbt_spark_operator.project`, :mod:`~dbt_spark_operator.pod` (pod settings, for type checking),
:mod:`~dbt_spark_operator.runtime` (every decision that depends on where dbt runs),
:mod:`~dbt_spark_operator.watcher` (for a watched build), Cosmos's public API; Cosmos's internals only
through :mod:`~dbt_spark_operator.compat`.
"""
