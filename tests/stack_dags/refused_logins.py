"""Connections the secure engine must turn away: one DAG per connection, the sample's first steps.
Only the integration stack loads this folder: its connections exist there only.

The integration suite (tests/integration/test_airflow_ui.py) gives the stack these connections (a wrong
password, a user the directory does not know, no password, a client without TLS) and checks that each
run fails its first task at once with one line naming the cause, and that no password shows up anywhere.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from dbt_spark_operator import DbtSparkDepsOperator, dbt_task_group

CASES = ("wrong_password", "unknown_user", "no_password", "plain_client")

for case in CASES:
    with DAG(
        f"refused_{case}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=["dbt", "integration"],
    ):
        conn_id = f"kyuubi_{case}"
        deps = DbtSparkDepsOperator(
            task_id="dbt_deps", project="analytics", conn_id=conn_id, execution="local"
        )
        staging = dbt_task_group(
            "analytics", conn_id=conn_id, select=["path:models/staging"], execution="local"
        )
        deps >> staging
