"""Watcher execution on a real Airflow 3 (scheduler, dag-processor, triggerer, api-server on PostgreSQL)
against the local engine: tests/stack_dags/watched.py runs tests/dbt_projects/watched, whose
``watched_events`` model reads ``watched.watched_input``, a table outside dbt that a test drops to fail
that model inside the build.

The tests run in file order against one stack: all pass; a model fails (states match dbt's); a model
that fails once succeeds on its retry (every event once); clearing one model reruns it alone; clearing
the whole run starts one new build; a generated project of 100 models (and a test each) runs without a
spurious failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dbt_spark_operator.dev.airflow_stack import AirflowStack
from dbt_spark_operator.dev.engine import EngineStatus
from dbt_spark_operator.dev.generated_project import generate
from dbt_spark_operator.project.paths import write_manifest
from helpers import ROOT, engine_sql, give_watched_input, running_stack

DAG_ID = "watched"
BUILD = "watched.dbt_build"
EVENTS = "watched.watched_events.run"
# Downstream of watched_events: its test, the report and the report's test.
AFTER_EVENTS = {
    "watched.watched_events.unique_watched_events_n",
    "watched.watched_report.run",
    "watched.watched_report.not_null_watched_report_events",
}


LARGE = "watched_large"
LARGE_DAG = """
from datetime import datetime
from airflow.sdk import DAG
from dbt_spark_operator import dbt_task_group

with DAG({dag_id!r}, schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    dbt_task_group({project!r}, execution="watcher", profile_args={{"schema": {dag_id!r}}})
"""


@pytest.fixture(scope="module")
def large_dag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DAG of a generated project of 100 models, a not_null test each (the benchmarks' generator)."""
    root = tmp_path_factory.mktemp("watched-large")
    project = generate(root, 100, name=LARGE)
    write_manifest(project)
    dag_file = root / f"{LARGE}.py"
    dag_file.write_text(LARGE_DAG.format(dag_id=LARGE, project=str(project)))
    return dag_file


@pytest.fixture(scope="module")
def stack(engine: EngineStatus, large_dag: Path) -> Iterator[AirflowStack]:
    connection = {"conn_type": "kyuubi", "host": engine.host, "port": engine.port, "login": "admin"}
    with running_stack(
        "watcher-stack",
        [ROOT / "tests" / "stack_dags" / "watched.py", large_dag],
        {"kyuubi_default": {**connection, "schema": "watched"}},
    ) as airflow:
        airflow.wait_for_dag(DAG_ID)
        airflow.wait_for_dag(LARGE)
        yield airflow


def node_tests(task_ids: Any) -> list[str]:
    return [t for t in task_ids if t != BUILD and not t.endswith((".run", "_seed"))]


def states(stack: AirflowStack, run_id: str) -> dict[str, str]:
    return {task_id: ti["state"] for task_id, ti in stack.task_instances(DAG_ID, run_id).items()}


def test_all_pass_every_task_success_and_tests_never_take_a_worker(stack, engine):
    give_watched_input(engine)
    run = stack.wait_for_run(DAG_ID, stack.trigger(DAG_ID, "all_pass"))
    assert run["state"] == "success", stack.failures(DAG_ID, "all_pass")
    tis = stack.task_instances(DAG_ID, "all_pass")
    assert {ti["state"] for ti in tis.values()} == {"success"}
    assert len(tis) == 1 + 5 + 4  # the build, the seed and four models, a test of each model
    tests = node_tests(tis)
    assert len(tests) == 4 and all(tis[t]["queued_when"] is None for t in tests), "a test task took a worker"
    assert {ti["try_number"] for ti in tis.values()} == {1}
    assert engine_sql(engine, "SELECT events, total FROM watched.watched_report") == [(5, 30)]


def test_a_failing_model_fails_its_task_and_only_what_depends_on_it(stack, engine):
    engine_sql(engine, "DROP TABLE watched.watched_input")
    run = stack.wait_for_run(DAG_ID, stack.trigger(DAG_ID, "input_missing"))
    assert run["state"] == "failed"
    found = states(stack, "input_missing")
    assert found[EVENTS] == "failed"
    assert {found[t] for t in AFTER_EVENTS} == {"upstream_failed"}
    unrelated = {t: s for t, s in found.items() if t not in AFTER_EVENTS | {EVENTS, BUILD}}
    assert set(unrelated.values()) == {"success"}, unrelated
    assert found[BUILD] == "success"  # dbt ran every node it could: the failure is the model's task's


def test_a_model_that_fails_once_succeeds_on_its_retry_with_every_event_once(stack, engine):
    """The input is missing when the build reaches watched_events, and back before its task's retry:
    the retry runs the model itself, the run succeeds, the incremental model holds each event once."""
    import threading

    engine_sql(engine, "DROP TABLE IF EXISTS watched.watched_input")
    run_id = stack.trigger(DAG_ID, "fails_once")

    def give_back_when_failed() -> None:
        import time

        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if stack.task_instances(DAG_ID, run_id).get(EVENTS, {}).get("state") == "up_for_retry":
                give_watched_input(engine)
                return
            time.sleep(1)

    helper = threading.Thread(target=give_back_when_failed)
    helper.start()
    run = stack.wait_for_run(DAG_ID, run_id)
    helper.join()
    assert run["state"] == "success", stack.failures(DAG_ID, run_id)
    tries = stack.tries(DAG_ID, run_id)
    assert tries[EVENTS] == 2
    # Never two runs of one node at once: the retry ran the model (its table's last write) after the
    # build had ended.
    build_end = datetime.fromisoformat(stack.task_instances(DAG_ID, run_id)[BUILD]["end_date"]).timestamp()
    (written,) = engine_sql(
        engine, "SELECT unix_timestamp(max(committed_at)) FROM watched.watched_events.snapshots"
    )[0]
    assert written >= int(build_end)
    assert engine_sql(engine, "SELECT count(*), count(DISTINCT n) FROM watched.watched_events") == [(5, 5)]
    assert engine_sql(engine, "SELECT events, total FROM watched.watched_report") == [(5, 30)]


def test_clearing_one_model_reruns_it_alone_without_a_new_build(stack, engine):
    run_id = "fails_once"
    snapshots = "SELECT count(*) FROM watched.watched_tripled.snapshots"
    before_snapshots = engine_sql(engine, snapshots)[0][0]
    before = stack.tries(DAG_ID, run_id)
    stack.clear(DAG_ID, run_id, ["watched.watched_tripled.run"])
    run = stack.wait_for_rerun(DAG_ID, run_id, "watched.watched_tripled.run", before)
    assert run["state"] == "success", stack.failures(DAG_ID, run_id)
    after = stack.tries(DAG_ID, run_id)
    assert after["watched.watched_tripled.run"] == before["watched.watched_tripled.run"] + 1
    assert {t: n for t, n in after.items() if t != "watched.watched_tripled.run"} == {
        t: n for t, n in before.items() if t != "watched.watched_tripled.run"
    }
    assert engine_sql(engine, snapshots)[0][0] == before_snapshots + 1  # the table rebuilt, once


def test_clearing_the_whole_run_starts_one_new_build(stack, engine):
    run_id = "all_pass"
    before = stack.tries(DAG_ID, run_id)
    stack.clear(DAG_ID, run_id, list(before))
    run = stack.wait_for_rerun(DAG_ID, run_id, BUILD, before)
    assert run["state"] == "success", stack.failures(DAG_ID, run_id)
    tis = stack.task_instances(DAG_ID, run_id)
    assert {ti["try_number"] for ti in tis.values()} == {2}
    tests = node_tests(tis)
    assert all(tis[t]["queued_when"] is None for t in tests), "a test ran dbt itself: not one build"


def test_a_hundred_models_run_without_a_spurious_failure(stack):
    """The size at which Cosmos's watcher lost a task to an Airflow race between a deferral's exit and
    its trigger's event (docs/watcher.md): here no node task defers from a worker."""
    run = stack.wait_for_run(LARGE, stack.trigger(LARGE, "hundred"))
    assert run["state"] == "success", stack.failures(LARGE, "hundred")
    tis = stack.task_instances(LARGE, "hundred")
    assert len(tis) == 1 + 100 + 100
    assert {ti["state"] for ti in tis.values()} == {"success"}
    assert {ti["try_number"] for ti in tis.values()} == {1}
    tests = [t for t in tis if t.endswith("_id")]  # not_null_m<i>_id
    assert len(tests) == 100 and all(tis[t]["queued_when"] is None for t in tests)
