"""Faults against the real local engine: clear failures in bounded time, no orphan process."""

from __future__ import annotations

import time
from datetime import datetime

import psutil
import pytest
from airflow.sdk import DAG

from conftest import free_port, kyuubi_connection
from dbt_spark_operator import DbtSparkOperatorError, DbtSparkRunOperator
from dbt_spark_operator.pod import task_context


def test_engine_down_when_the_task_starts(monkeypatch):
    """connect_retries / connect_timeout are honoured, then one clear error naming the endpoint."""
    port = free_port()  # nothing listens there
    monkeypatch.setenv(
        *kyuubi_connection(
            "down", host="127.0.0.1", port=port, extra={"connect_retries": 2, "connect_timeout": 1}
        )
    )
    with DAG("faults", schedule=None, start_date=datetime(2025, 1, 1)):
        task = DbtSparkRunOperator(task_id="run", conn_id="down", execution="local", select="stg_employees")
    before = {p.pid for p in psutil.process_iter()}
    started = time.monotonic()
    with pytest.raises(DbtSparkOperatorError) as error:
        task.execute(task_context(task))
    took = time.monotonic() - started
    assert (
        str(error.value)
        == f"dbt run failed: exit code 2: Could not connect to any of [('127.0.0.1', {port})]"
    )
    assert took < 60  # two retries one second apart, plus dbt's start-up: bounded, never a hang
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if p.pid not in before and "dbt-spark-pod" in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []
