"""The analytics dbt project as a task graph: one task per seed, model and snapshot, tests after each.

A load step lands the raw HR events first (the source the project checks for freshness). Runs in Cosmos
local execution against the local engine (`dbt-spark-operator engine up`).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import dag
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, TestBehavior
from cosmos.operators.local import DbtRunOperationLocalOperator

from dbt_spark_operator.project import profiles_dir, project_dir

PROJECT = project_dir("analytics")
PROFILE = ProfileConfig(
    profile_name="analytics",
    target_name=os.environ.get("DBT_TARGET", "local"),
    profiles_yml_filepath=profiles_dir() / "profiles.yml",
)


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
    load = DbtRunOperationLocalOperator(
        task_id="load_raw_employee_events",
        macro_name="load_raw_employee_events",
        project_dir=str(PROJECT),
        profile_config=PROFILE,
    )
    analytics = DbtTaskGroup(
        group_id="analytics",
        project_config=ProjectConfig(PROJECT),
        profile_config=PROFILE,
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.LOCAL),
        render_config=RenderConfig(
            test_behavior=TestBehavior.AFTER_EACH,
            # A test of two models (relationships) runs once both exist, as a task of its own.
            should_detach_multiple_parents_tests=True,
        ),
    )
    load >> analytics


simple_model_test()
