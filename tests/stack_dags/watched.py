"""tests/dbt_projects/watched in watcher execution, retries 1 (10 s apart): the watcher contract's DAG
(tests/integration/test_watcher_contract.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag

from dbt_spark_operator import dbt_task_group

WATCHED = Path(__file__).resolve().parents[1] / "dbt_projects" / "watched"


@dag(dag_id="watched", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def watched() -> None:
    dbt_task_group(
        WATCHED,
        execution="watcher",
        profile_args={"schema": "watched"},
        operator_args={"retries": 1, "retry_delay": timedelta(seconds=10)},
    )


watched()
