"""Only ``simple_pipeline`` of the analytics project (and its tests): the asset tests run it while its
input is missing, so that the model's own task fails."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from dbt_spark_operator import dbt_task_group


@dag(dag_id="simple_pipeline_alone", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def simple_pipeline_alone() -> None:
    dbt_task_group("analytics", select=["simple_pipeline"], execution="local")


simple_pipeline_alone()
