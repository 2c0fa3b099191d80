"""The dbt pod: its settings as Kubernetes client models, checked at DAG parse, and the pod a task
gets (:mod:`.settings`); what every task that runs a pod adds to ``KubernetesPodOperator``
(:mod:`.task`).

May import: :mod:`~dbt_spark_operator.errors`, :mod:`~dbt_spark_operator.compat`,
:mod:`~dbt_spark_operator.graph.dbt_task` (what a pod task keeps), the Kubernetes client and provider;
a project's setup only for type checking (:mod:`~dbt_spark_operator.project`).
Imported only where a pod is built or run: a local task process never imports it.
"""
