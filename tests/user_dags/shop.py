"""A user's own dbt project (tests/dbt_projects/shop, profile ``warehouse``) pointed at by path.

Execution from ``DBT_SPARK_EXECUTION``; tests/integration/test_user_project.py renders it in both
executions and runs it locally against the engine.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from dbt_spark_operator import DbtSparkDepsOperator, PodSettings, dbt_task_group

SHOP = Path(__file__).resolve().parents[1] / "dbt_projects" / "shop"
POD = PodSettings(password_secret=("kyuubi-credentials", "password"))

with DAG("shop", schedule=None, start_date=datetime(2025, 1, 1), catchup=False, max_active_runs=1):
    deps = DbtSparkDepsOperator(task_id="dbt_deps", project=SHOP, pod=POD)
    deps >> dbt_task_group(SHOP, pod=POD, profile_args={"schema": "shop"})
