"""The sample pipeline (operators mixed with dbt_task_group) run by Airflow, with its XCom summaries."""

from __future__ import annotations

import subprocess

import pytest

from dbt_spark_operator.project.paths import docs_dir
from helpers import BIN, EXPECTED_SIMPLE_PIPELINE, query


@pytest.fixture(scope="module")
def pipeline_run(engine, airflow_db):
    proc = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "sample_dbt_pipeline"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    from dbt_spark_operator.dev.demo import task_summary

    return task_summary("sample_dbt_pipeline"), proc.stdout + proc.stderr


def xcom(task_id: str):
    from airflow.models import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        run = (
            session.query(DagRun)
            .filter(DagRun.dag_id == "sample_dbt_pipeline")
            .order_by(DagRun.id.desc())
            .first()
        )
        row = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == "sample_dbt_pipeline",
                XComModel.run_id == run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
            .one()
        )
        return XComModel.deserialize_value(row)


def test_pipeline_order_and_success(pipeline_run):
    (state, tasks), _ = pipeline_run
    assert state == "success" and {s for _, s, _ in tasks} == {"success"}
    order = [t for t, _, _ in tasks]
    assert order[:4] == ["dbt_debug", "dbt_deps", "dbt_seed", "load_raw_employee_events"]
    assert order[-3:] == ["dbt_snapshot", "dbt_source_freshness", "dbt_docs_generate"]
    assert any(t.startswith("models.simple_pipeline.") for t in order)
    assert query("SELECT * FROM simple_pipeline ORDER BY id") == EXPECTED_SIMPLE_PIPELINE


def test_operators_push_compact_summaries(pipeline_run):
    freshness = xcom("dbt_source_freshness")
    assert [n["node"] for n in freshness["nodes"]] == ["source.analytics.raw.employee_events"]
    assert freshness["nodes"][0]["status"] == "pass" and freshness["failed"] == []
    seed = xcom("dbt_seed")
    assert seed["counts"] == {"success": 1} and seed["nodes"][0]["node"] == "seed.analytics.employees"
    assert (docs_dir("analytics") / "catalog.json").is_file()
    _, output = pipeline_run
    assert "All checks passed!" in output  # dbt debug, in the task log
