"""The analytics dbt project as a task graph: one task per seed, model and snapshot, tests after each.

A load step lands the raw HR events first (the source the project checks for freshness). Local
execution: dbt runs in the Airflow worker against the Kyuubi connection ``kyuubi_default`` (the local
engine in `make demo`). ``analytics_kubernetes`` is the same graph with one pod per task;
``simple_model_watcher`` the same graph in watcher execution: one ``dbt build`` (task
``analytics.dbt_build``) whose node results the node tasks take in Airflow's triggerer (docs/watcher.md).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from dbt_spark_operator import DbtSparkDepsOperator, dbt_run_operation, dbt_task_group

for dag_id, execution in (("simple_model_test", "local"), ("simple_model_watcher", "watcher")):
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        max_active_runs=1,
        tags=["dbt", "analytics", execution],
        doc_md=__doc__,
    ):
        deps = DbtSparkDepsOperator(task_id="dbt_deps", project="analytics", execution="local")
        load = dbt_run_operation(
            "load_raw_employee_events", "load_raw_employee_events", project="analytics", execution="local"
        )
        deps >> load >> dbt_task_group("analytics", execution=execution)
