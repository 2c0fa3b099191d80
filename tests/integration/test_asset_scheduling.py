"""Every dbt model an Airflow Asset, on a real Airflow 3 (scheduler, dag-processor, triggerer, api-server
on PostgreSQL) against the local engine, in local execution: a consumer DAG scheduled on the
``simple_pipeline`` asset (tests/stack_dags/asset_consumer.py), the sample DAG that produces it, and a DAG
of ``simple_pipeline`` alone whose model fails (tests/stack_dags/simple_pipeline_alone.py).

The tests run in file order against one stack: a failed model emits nothing and triggers nothing; a
successful run emits one event per model, seed and snapshot task and triggers the consumer once;
clearing one model emits one more event, for it alone; the asset page draws the lineage.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbt_spark_operator.dev.airflow_stack import AirflowStack
from dbt_spark_operator.dev.engine import run_query
from dbt_spark_operator.graph.assets import relation_uri
from dbt_spark_operator.project.manifest import read_manifest
from helpers import PROJECT, ROOT, running_stack

PRODUCER = "simple_model_test"
CONSUMER = "asset_consumer"
FAILING = "simple_pipeline_alone"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / ".artifacts" / "ui"


def producing_tasks() -> dict[str, str]:
    """Each task that writes a relation, with the URI of its asset, from the manifest."""
    manifest = read_manifest(PROJECT / "target" / "manifest.json")
    tasks = {}
    for node in manifest.nodes.values():
        if node.config.get("materialized") == "ephemeral":
            continue
        task_id = {
            "model": f"analytics.{node.name}.run",
            "seed": f"analytics.{node.name}.seed",
            "snapshot": f"analytics.{node.name}_snapshot",
        }.get(node.resource_type)
        if task_id:
            tasks[task_id] = relation_uri("kyuubi_default", node.schema, node.alias or node.name)
    return tasks


@pytest.fixture(scope="module")
def stack(engine) -> Iterator[AirflowStack]:
    dag_files = [
        ROOT / "dags" / f"{PRODUCER}.py",
        ROOT / "tests" / "stack_dags" / f"{CONSUMER}.py",
        ROOT / "tests" / "stack_dags" / f"{FAILING}.py",
    ]
    connection = {"conn_type": "kyuubi", "host": engine.host, "port": engine.port, "login": "admin"}
    with running_stack(
        "asset-stack", dag_files, {"kyuubi_default": {**connection, "schema": "default"}}
    ) as airflow:
        for dag_id in (PRODUCER, CONSUMER, FAILING):
            airflow.wait_for_dag(dag_id)
        airflow.request("PATCH", f"/dags/{CONSUMER}", json={"is_paused": False})
        yield airflow


def events(stack: AirflowStack, dag_id: str, run_id: str | None = None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"source_dag_id": dag_id, "limit": 100, "order_by": "timestamp"}
    if run_id is not None:
        params["source_run_id"] = run_id
    return list(stack.request("GET", "/assets/events", params=params)["asset_events"])


def consumer_runs(stack: AirflowStack, settle: float = 20) -> list[dict[str, Any]]:
    """The consumer's runs, once the scheduler had ``settle`` seconds to create one more."""
    time.sleep(settle)
    runs = stack.request("GET", f"/dags/{CONSUMER}/dagRuns")["dag_runs"]
    return [stack.wait_for_run(CONSUMER, run["dag_run_id"]) for run in runs]


@pytest.fixture(scope="module")
def successful_run(stack: AirflowStack, engine) -> str:
    """A run of the sample DAG after the failed one (test 1 needs its input missing first)."""
    run_id = stack.trigger(PRODUCER, "produce")
    run = stack.wait_for_run(PRODUCER, run_id)
    assert run["state"] == "success", stack.failures(PRODUCER, run_id)
    return run_id


def test_a_failed_model_emits_nothing_and_triggers_nothing(stack, engine):
    # simple_pipeline reads stg_employees; without it the model's own task fails (its tests do not run).
    run_query(engine.host, engine.port, "DROP VIEW IF EXISTS default.stg_employees")
    run_id = stack.trigger(FAILING, "fails")
    run = stack.wait_for_run(FAILING, run_id)
    states = {t: ti["state"] for t, ti in stack.task_instances(FAILING, run_id).items()}
    assert run["state"] == "failed" and states["analytics.simple_pipeline.run"] == "failed", states
    assert events(stack, FAILING) == []
    assert consumer_runs(stack) == []


def test_a_successful_run_emits_one_event_per_written_relation_and_triggers_the_consumer_once(
    stack, successful_run
):
    produced = events(stack, PRODUCER, successful_run)
    expected = producing_tasks()
    assert len(expected) == 7  # a seed, five models, a snapshot
    assert sorted((e["source_task_id"], e["uri"]) for e in produced) == sorted(expected.items())
    for event in produced:
        extra = event["extra"]
        node = event["uri"].rsplit("/", 1)[1]
        assert extra["status"] == "success", event
        if event["source_task_id"].endswith(".seed"):  # dbt reports a seed's rows, not its relation
            assert extra["rows_affected"] == 5, event
        else:
            assert extra["relation"] == f"default.{node}", event
        assert extra["execution_time"] > 0 and extra["dbt_invocation_id"], event
        assert extra["dbt_unique_id"].endswith(f".{node}"), event
    print(
        "asset event of simple_pipeline:",
        next(e["extra"] for e in produced if e["uri"].endswith("/simple_pipeline")),
    )

    (run,) = consumer_runs(stack)
    assert run["state"] == "success" and run["run_type"] == "asset_triggered"
    xcom = stack.request(
        "GET",
        f"/dags/{CONSUMER}/dagRuns/{run['dag_run_id']}/taskInstances/read_triggering_events/xcomEntries/return_value",
    )
    (seen,) = xcom["value"]
    assert (
        seen["uri"] == expected["analytics.simple_pipeline.run"] and seen["source_run_id"] == successful_run
    )
    assert seen["extra"]["status"] == "success"


def test_clearing_one_model_emits_one_more_event_for_it_alone(stack, successful_run):
    task_id = "analytics.department_summary.run"
    before_events, before = events(stack, PRODUCER, successful_run), stack.tries(PRODUCER, successful_run)
    stack.clear(PRODUCER, successful_run, [task_id])
    run = stack.wait_for_rerun(PRODUCER, successful_run, task_id, before)
    assert run["state"] == "success"
    after = events(stack, PRODUCER, successful_run)
    new = [e for e in after if e["id"] not in {b["id"] for b in before_events}]
    assert [(e["source_task_id"], e["uri"]) for e in new] == [(task_id, producing_tasks()[task_id])]
    assert len(consumer_runs(stack, settle=10)) == 1  # department_summary is not what it is scheduled on


def test_asset_page_draws_the_lineage_from_the_seed_to_the_marts(stack, successful_run):
    from playwright.sync_api import sync_playwright

    uris = producing_tasks()
    mart = uris["analytics.department_summary.run"]
    (asset,) = stack.request("GET", "/assets", params={"uri_pattern": "department_summary"})["assets"]
    assert asset["uri"] == mart
    graph = stack.request(
        "GET",
        "/dependencies",
        api="/ui",
        params={"node_id": f"asset:{asset['id']}", "dependency_type": "data"},
    )
    chain = ["analytics.employees.seed", "analytics.stg_employees.run", "analytics.simple_pipeline.run"]
    ids = {node["label"]: node["id"] for node in graph["nodes"]}
    edges: dict[str, set[str]] = {}
    for edge in graph["edges"]:
        edges.setdefault(edge["source_id"], set()).add(edge["target_id"])
    reached, pending = set(), [ids[uris[chain[0]]]]  # from the seed's asset, along the edges
    while pending:
        node = pending.pop()
        if node not in reached:
            reached.add(node)
            pending.extend(edges.get(node, ()))
    assert {ids[uris[t]] for t in chain} | {ids[mart]} <= reached, graph  # seed -> staging -> marts

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 3600, "height": 1000})  # the lineage runs left to right
        page.goto(f"{stack.api}/")
        page.get_by_label(re.compile("username", re.I)).fill("admin")
        page.get_by_label(re.compile("password", re.I)).fill(stack.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{stack.api}/")
        page.goto(f"{stack.api}/assets/{asset['id']}")
        page.locator(".react-flow__node").first.wait_for()
        page.get_by_role("button", name="Task Dependencies").click()  # the data lineage, task by task
        # The file of simple_model_test also defines simple_model_watcher, whose tasks write the same
        # assets: the lineage shows both DAGs' tasks; wait for this DAG's seed.
        page.get_by_test_id(f"rf__node-task:{PRODUCER}__SEPARATOR__analytics.employees.seed").wait_for()
        page.locator(".react-flow__controls-fitview").click()
        page.wait_for_timeout(1500)  # the fit's animation
        shown = page.locator(".react-flow").inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        screenshot = ARTIFACTS / "asset-lineage.png"
        page.locator(".react-flow").screenshot(path=str(screenshot))
        print(f"asset lineage screenshot: {screenshot}")
        browser.close()
    for task_id in chain:  # seed -> staging -> mart, each task between the assets it reads and writes
        assert task_id in shown and uris[task_id] in shown, shown
    assert "analytics.department_summary.run" in shown and mart in shown
