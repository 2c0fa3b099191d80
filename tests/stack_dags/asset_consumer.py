"""Scheduled on the ``simple_pipeline`` asset: runs once after each successful build of that model, and
returns the asset events that triggered it (what a downstream team's DAG would read)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import dag, task

from dbt_spark_operator import dbt_asset


@dag(
    dag_id="asset_consumer",
    schedule=[dbt_asset("analytics", "simple_pipeline")],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dbt", "assets"],
)
def asset_consumer() -> None:
    @task
    def read_triggering_events(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        return [
            {"uri": asset.uri, "source_run_id": event.source_run_id, "extra": dict(event.extra)}
            for asset, events in triggering_asset_events.items()
            for event in events
        ]

    read_triggering_events()


asset_consumer()
