"""A user's own DAG: part of the dbt project (the marts folder) between two plain tasks, daily.

The integration suite (tests/integration/test_airflow_ui.py) puts it beside the project's DAGs and
checks that a scheduled run runs exactly this subset.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from dbt_spark_operator import dbt_task_group

with DAG(
    "imported_marts",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["dbt", "integration"],
):
    extract = EmptyOperator(task_id="extract")
    marts = dbt_task_group("analytics", group_id="marts", select=["path:models/marts"], execution="local")
    notify = EmptyOperator(task_id="notify")
    extract >> marts >> notify
