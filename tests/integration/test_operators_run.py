"""All nine operators run for real (local execution: the pod's argv and env as a process) against the
local engine, each with its effect checked."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from airflow.sdk import DAG
from fastapi.testclient import TestClient

import dbt_spark_operator as ops
from dbt_spark_operator.project.paths import docs_dir, packages_dir
from dbt_spark_operator.runtime.rendered_pod import task_context
from helpers import EXPECTED_SIMPLE_PIPELINE, query


def run(cls, task_id: str, caplog=None, **kwargs):
    with DAG("operators", schedule=None, start_date=datetime(2025, 1, 1)):
        task = cls(task_id=task_id, project=kwargs.pop("project", "analytics"), execution="local", **kwargs)
    context = task_context(task)
    task.render_template_fields(context)
    return task.execute(context)


@pytest.fixture(scope="module")
def seeded(engine):
    assert run(ops.DbtSparkDepsOperator, "deps") is not None
    summary = run(ops.DbtSparkSeedOperator, "seed", full_refresh=True)
    assert summary["counts"] == {"success": 1}
    return engine


def test_debug_passes_all_checks(engine, caplog):
    caplog.set_level("INFO")
    run(ops.DbtSparkDebugOperator, "debug")
    assert "All checks passed!" in caplog.text


def test_deps_installs_the_shared_package(seeded):
    assert (packages_dir("analytics") / "shared_macros" / "dbt_project.yml").is_file()


def test_seed_loads_the_five_employees(seeded):
    assert query("SELECT count(*) FROM employees") == [(5,)]


def test_run_builds_models_and_reports_rows(seeded):
    query("DROP TABLE IF EXISTS simple_pipeline")
    summary = run(ops.DbtSparkRunOperator, "run", models=["stg_employees", "simple_pipeline"], threads=2)
    assert summary["counts"] == {"success": 2} and summary["failed"] == []
    assert {n["node"] for n in summary["nodes"]} == {
        "model.analytics.stg_employees",
        "model.analytics.simple_pipeline",
    }
    assert query("SELECT * FROM simple_pipeline ORDER BY id") == EXPECTED_SIMPLE_PIPELINE


def test_test_passes_and_warns_with_node_names(seeded, caplog):
    caplog.set_level("WARNING")
    summary = run(
        ops.DbtSparkTestOperator,
        "test",
        select="simple_pipeline",
        dbt_flags=["--indirect-selection", "cautious"],
    )  # not the tests that need fct_employee_events
    assert summary["failed"] == [] and summary["counts"]["pass"] >= 4
    assert summary["warned"] == ["test.analytics.warn_senior_employees"]
    assert "dbt test warned on: test.analytics.warn_senior_employees" in caplog.text


def test_failing_test_fails_the_task_naming_the_node(seeded):
    run(ops.DbtSparkRunOperator, "build_summary", select="+department_summary")
    with pytest.raises(
        ops.DbtSparkOperatorError, match="dbt test failed: test.analytics.assert_department_head_count"
    ):
        run(
            ops.DbtSparkTestOperator,
            "strict_test",
            select="assert_department_head_count",
            vars={"min_head_count": 3},
        )
    summary = run(
        ops.DbtSparkTestOperator,
        "lenient_test",
        select="assert_department_head_count",
        vars="min_head_count: 1",
    )
    assert summary["counts"] == {"pass": 1}


def test_snapshot_records_rows(seeded):
    run(ops.DbtSparkRunOperator, "staging", select="stg_employees")
    summary = run(ops.DbtSparkSnapshotOperator, "snapshot")
    assert summary["counts"] == {"success": 1}
    assert query("SELECT count(DISTINCT employee_id) FROM employees_snapshot WHERE dbt_valid_to IS NULL") == [
        (5,)
    ]


def test_source_freshness_reports_status_and_age(seeded):
    from dbt_spark_operator.graph.task_group import dbt_run_operation

    with DAG("load", schedule=None, start_date=datetime(2025, 1, 1)):
        load = dbt_run_operation("load", "load_raw_employee_events", project="analytics", execution="local")
    load.execute(task_context(load))
    summary = run(ops.DbtSparkFreshnessOperator, "freshness")
    (node,) = summary["nodes"]
    assert node["node"] == "source.analytics.raw.employee_events" and node["status"] == "pass"
    assert 0 <= node["age_seconds"] < 3600


def test_compile_writes_compiled_sql(seeded, caplog):
    caplog.set_level("INFO")
    summary = run(ops.DbtSparkCompileOperator, "compile", select="simple_pipeline")
    statuses = {n["node"]: n["status"] for n in summary["nodes"]}
    assert statuses["model.analytics.simple_pipeline"] == "success" and summary["failed"] == []
    assert "case when age < 30 then 'Young Professional' else 'Mid-Career' end" in caplog.text


def test_docs_generate_writes_the_site_and_the_plugin_serves_it(seeded):
    summary = run(ops.DbtSparkDocsOperator, "docs")
    assert summary["failed"] == []
    site = docs_dir("analytics")
    for name in ("index.html", "manifest.json", "catalog.json"):
        assert (site / name).is_file(), name
    catalog = json.loads((site / "catalog.json").read_text())
    assert "model.analytics.simple_pipeline" in catalog["nodes"]

    # The docs task recorded its DAG beside the site: the page serves the site to that DAG's readers.
    assert (site / ".dags" / "operators").is_file()
    from dbt_spark_operator.docs_plugin import app, site_dags

    assert site_dags("analytics") >= {"operators"}
    client = TestClient(app)  # no Airflow credentials: refused before any file is looked at
    for path in ("/", "/analytics/", "/analytics/catalog.json", "/analytics/manifest.json"):
        assert client.get(path).status_code == 401, path
