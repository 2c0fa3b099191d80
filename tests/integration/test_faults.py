"""Faults against the real local engine: clear failures in bounded time, no orphan process, and the next
run succeeds."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest
from airflow.sdk import DAG

from dbt_spark_operator import (
    DbtSparkOperatorError,
    DbtSparkRunOperator,
    DbtSparkSeedOperator,
    dbt_run_operation,
)
from dbt_spark_operator.dev.engine import LocalEngine
from dbt_spark_operator.runtime.rendered_pod import task_context
from helpers import PROJECT, free_port, kyuubi_connection, query


def test_engine_down_when_the_task_starts(monkeypatch):
    """connect_retries / connect_timeout are honoured, then one clear error naming the endpoint."""
    port = free_port()  # nothing listens there
    monkeypatch.setenv(
        *kyuubi_connection(
            "down", host="127.0.0.1", port=port, extra={"connect_retries": 2, "connect_timeout": 1}
        )
    )
    with DAG("faults", schedule=None, start_date=datetime(2025, 1, 1)):
        task = DbtSparkRunOperator(
            task_id="run", project="analytics", conn_id="down", execution="local", select="stg_employees"
        )
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


def dbt_processes(pgid: int | None = None) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "dbt-spark-pod" in cmd or ("bin/dbt" in cmd and " run " in f"{cmd} "):
            with contextlib.suppress(psutil.Error):
                if pgid is None or os.getpgid(proc.pid) == pgid:
                    found.append(proc)
    return found


@pytest.mark.parametrize("how", ["on_kill", "SIGKILL to dbt"])
def test_stopped_or_killed_dbt_fails_the_task_leaves_no_process_and_reruns(engine, how):
    with DAG("kill", schedule=None, start_date=datetime(2025, 1, 1)):
        seed = DbtSparkSeedOperator(task_id="seed", project="analytics", execution="local")
        task = DbtSparkRunOperator(
            task_id="run", project="analytics", execution="local", models="+simple_pipeline"
        )
    seed.execute(task_context(seed))
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["summary"] = task.execute(task_context(task))
        except Exception as exc:  # what Airflow would see
            outcome["error"] = exc

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 60
    while not getattr(task, "_local_process", None) and time.monotonic() < deadline:
        time.sleep(0.1)
    pgid = task._local_process.pid
    while not [p for p in dbt_processes(pgid) if "bin/dbt" in " ".join(p.cmdline())]:
        assert time.monotonic() < deadline, "dbt never started"
        time.sleep(0.1)
    if how == "on_kill":
        task.on_kill()  # what Airflow calls when the task is stopped
    else:
        for proc in dbt_processes(pgid):
            if "bin/dbt" in " ".join(proc.cmdline()):
                proc.kill()
    worker.join(90)
    assert not worker.is_alive(), "the task hung after dbt was stopped"
    assert isinstance(outcome.get("error"), DbtSparkOperatorError), outcome
    assert str(outcome["error"]).startswith("dbt run failed: exit code ")
    assert dbt_processes(pgid) == []  # nothing of the group is left

    summary = task.execute(task_context(task))  # the next run succeeds
    assert summary["failed"] == [] and "model.analytics.simple_pipeline" in {
        n["node"] for n in summary["nodes"]
    }


@pytest.fixture
def slow_project(tmp_path, monkeypatch):
    """A copy of dbt/analytics whose incremental model first sleeps 20 s in the engine (a pre-hook), so
    that the engine can be killed while that model runs."""
    root = tmp_path / "projects"
    shutil.copytree(PROJECT, root / "analytics", ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copytree(PROJECT.parent / "shared_macros", root / "shared_macros")
    project_yml = root / "analytics" / "dbt_project.yml"
    project_yml.write_text(
        project_yml.read_text().replace(
            "    marts:\n",
            (
                "    marts:\n      fct_employee_events:\n"
                "        +pre-hook: \"select reflect('java.lang.Thread', 'sleep', cast(20000 as bigint))\"\n"
            ),
            1,
        )
    )
    monkeypatch.setenv("DBT_SPARK_PROJECTS_DIR", str(root))
    return root / "analytics"


def test_engine_killed_while_the_incremental_model_runs(engine, slow_project, monkeypatch):
    monkeypatch.setenv(
        *kyuubi_connection(
            "fragile", host="127.0.0.1", port=engine.port, extra={"connect_retries": 1, "connect_timeout": 1}
        )
    )
    with DAG("crash", schedule=None, start_date=datetime(2025, 1, 1)):
        build = DbtSparkRunOperator(
            task_id="build",
            project=slow_project,
            conn_id="fragile",
            execution="local",
            models="+fct_employee_events",
        )
        task = DbtSparkRunOperator(
            task_id="fct",
            project=slow_project,
            conn_id="fragile",
            execution="local",
            models="fct_employee_events",
        )
        seed = DbtSparkSeedOperator(
            task_id="seed", project=slow_project, conn_id="fragile", execution="local"
        )
        load = dbt_run_operation(
            "load", "load_raw_employee_events", slow_project, conn_id="fragile", execution="local"
        )
    seed.execute(task_context(seed))
    load.execute(task_context(load))
    build.execute(task_context(build))  # the table exists, with every event once
    assert query("SELECT count(*), count(DISTINCT event_id) FROM fct_employee_events") == [(7, 7)]
    load.execute(task_context(load))  # the events land again: new work for the merge

    outcome: dict[str, object] = {}
    worker = threading.Thread(target=lambda: outcome.update(_run(task)))
    worker.start()
    local = LocalEngine()
    deadline = time.monotonic() + 120
    log = Path(local.config.log_path)
    # Wait until the engine runs the model's pre-hook (the thrift server logs each statement it gets).
    while "java.lang.Thread" not in log.read_text(errors="replace")[-200_000:]:
        assert time.monotonic() < deadline, "the model never started"
        time.sleep(0.5)
    time.sleep(2)
    os.killpg(local.status().pid, signal.SIGKILL)  # the engine crashes
    started = time.monotonic()
    worker.join(120)
    assert not worker.is_alive(), "the task hung after the engine died"
    assert time.monotonic() - started < 60
    assert isinstance(outcome.get("error"), DbtSparkOperatorError), outcome
    assert str(outcome["error"]).startswith("dbt run failed: ")

    local.up()  # the engine is back; rerun only that model
    summary = _run(task)["summary"]
    assert [n["node"] for n in summary["nodes"]] == ["model.analytics.fct_employee_events"]
    assert summary["counts"] == {"success": 1}
    assert query("SELECT count(*), count(DISTINCT event_id) FROM fct_employee_events") == [(7, 7)]


def _run(task) -> dict[str, object]:
    try:
        return {"summary": task.execute(task_context(task))}
    except Exception as exc:  # what Airflow would see
        return {"error": exc}
