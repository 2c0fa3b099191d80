"""``simple_model_test`` in watcher execution: the analytics project as one ``dbt build`` (task
``analytics.build``) and a task per seed, model, snapshot and test, each ending with its node's result
from that build in Airflow's triggerer (docs/watcher.md)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from dbt_spark_operator import DbtSparkDepsOperator, dbt_run_operation, dbt_task_group


@dag(
    dag_id="simple_model_watcher",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["dbt", "analytics", "watcher"],
    doc_md=__doc__,
)
def simple_model_watcher() -> None:
    deps = DbtSparkDepsOperator(task_id="dbt_deps", project="analytics", execution="local")
    load = dbt_run_operation(
        "load_raw_employee_events", "load_raw_employee_events", project="analytics", execution="local"
    )
    deps >> load >> dbt_task_group("analytics", execution="watcher")


simple_model_watcher()
