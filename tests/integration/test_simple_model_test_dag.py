"""The first DAG: parsed by Airflow, run with `airflow dags test` against the local engine
(tests/unit/graph/test_task_group.py parses it with no engine and no Java)."""

from __future__ import annotations

import json
import subprocess

import pytest

from helpers import BIN, EXPECTED_SIMPLE_PIPELINE, ROOT, query


def _airflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "airflow"), *args], capture_output=True, text=True, timeout=900)


def _dbt_nodes() -> dict[str, list[str]]:
    """Nodes of the analytics project by resource type, from dbt itself."""
    proc = subprocess.run(
        [
            str(BIN / "dbt"),
            "ls",
            "--project-dir",
            str(ROOT / "dbt" / "analytics"),
            "--output",
            "json",
            "--output-keys",
            "name",
            "resource_type",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    nodes: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        node = json.loads(line)
        nodes.setdefault(node["resource_type"], []).append(node["name"])
    return nodes


@pytest.fixture(scope="module")
def dag_run(engine, airflow_db):
    run = _airflow("dags", "test", "simple_model_test")
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    from dbt_spark_operator.dev.demo import task_summary

    return task_summary("simple_model_test")


def test_every_task_succeeds(dag_run):
    state, tasks = dag_run
    assert state == "success"
    assert tasks and {s for _, s, _ in tasks} == {"success"}


def test_each_seed_model_and_snapshot_is_its_own_task(dag_run):
    _, tasks = dag_run
    task_ids = {t for t, _, _ in tasks}
    nodes = _dbt_nodes()
    expected = {f"analytics.{name}.seed" for name in nodes["seed"]}
    expected |= {f"analytics.{name}.run" for name in nodes["model"]}
    expected |= {f"analytics.{name}_snapshot" for name in nodes["snapshot"]}
    assert expected <= task_ids
    # Every dbt test is a task of its own: in its model's group, or `<name>_test` when it tests two models.
    for name in nodes["test"]:
        assert [t for t in task_ids if t.endswith((f".{name}", f".{name}_test"))], name
    assert {"dbt_deps", "load_raw_employee_events"} <= task_ids


def test_dag_built_simple_pipeline(dag_run):
    assert query("SELECT * FROM simple_pipeline ORDER BY id") == EXPECTED_SIMPLE_PIPELINE
