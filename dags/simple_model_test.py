"""The analytics dbt project as a task graph: one task per seed, model and snapshot, tests after each.

A load step lands the raw HR events first (the source the project checks for freshness). Local
execution: dbt runs in the Airflow worker against the Kyuubi connection ``kyuubi_default`` (the local
engine in `make demo`). ``analytics_kubernetes`` is the same graph with one pod per task.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from dbt_spark_operator import DbtSparkDepsOperator, dbt_run_operation, dbt_task_group


@dag(
    dag_id="simple_model_test",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["dbt", "analytics", "local"],
    doc_md=__doc__,
)
def simple_model_test() -> None:
    deps = DbtSparkDepsOperator(task_id="dbt_deps", project="analytics", execution="local")
    load = dbt_run_operation(
        "load_raw_employee_events", "load_raw_employee_events", project="analytics", execution="local"
    )
    deps >> load >> dbt_task_group("analytics", execution="local")


simple_model_test()
