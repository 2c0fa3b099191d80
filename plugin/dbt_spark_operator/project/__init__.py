"""The dbt project at DAG parse: where projects and profiles live (:mod:`.paths`), the manifest's few
fields this package reads (:mod:`.manifest`), the project and profile a DAG names (:mod:`.config`),
and what every task of one project shares, checked once (:mod:`.setup`).

May import: :mod:`~dbt_spark_operator.connection`, :mod:`~dbt_spark_operator.execution`,
:mod:`~dbt_spark_operator.runtime` (the runtime a setup names), the graph's run-time hooks
(:mod:`~dbt_spark_operator.graph.assets`, :mod:`~dbt_spark_operator.graph.dbt_task`),
:mod:`~dbt_spark_operator.pod` (inside functions and for type checking: a local task process never
imports the Kubernetes client).
"""
