"""The analytics dbt project built for real through the local engine, twice."""

from __future__ import annotations

import pytest

from helpers import EXPECTED_SIMPLE_PIPELINE, dbt, query


def _ok(proc) -> None:
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.fixture(scope="module")
def built(engine):
    _ok(dbt("run-operation", "load_raw_employee_events"))
    _ok(dbt("build"))
    return engine


def test_simple_pipeline_has_the_write_up_rows(built):
    assert query("SELECT * FROM simple_pipeline ORDER BY id") == EXPECTED_SIMPLE_PIPELINE


def test_every_relation_is_built_as_iceberg(built):
    tables = {name for _, name, _ in query("SHOW TABLES IN default")}
    assert {
        "employees",
        "simple_pipeline",
        "department_summary",
        "fct_employee_events",
        "employees_snapshot",
    } <= tables
    for table in ("employees", "simple_pipeline", "fct_employee_events", "employees_snapshot"):
        described = dict((row[0], row[1]) for row in query(f"DESCRIBE TABLE EXTENDED {table}"))
        assert described.get("Provider") == "iceberg", (table, described)
    views = {name for _, name, _ in query("SHOW VIEWS IN default")}
    assert {"stg_employees", "stg_employee_events"} <= views


def test_a_model_run_lists_relations_with_two_catalog_calls(built, tmp_path):
    """macros/list_relations.sql: SHOW TABLES and SHOW VIEWS instead of dbt-spark's DESCRIBE of every table
    (its fallback for Iceberg), and the existing Iceberg table is still replaced in place, not dropped."""
    _ok(dbt("run", "-s", "department_summary", "--log-level-file", "debug", "--log-path", str(tmp_path)))
    statements = [line.strip().lower() for line in (tmp_path / "dbt.log").read_text().splitlines()]
    assert "show tables in default" in statements and "show views in default" in statements
    assert not [s for s in statements if s.startswith(("describe", "show table extended", "drop "))]
    assert "create or replace table default.department_summary" in statements


def test_department_summary_aggregates(built):
    rows = query("SELECT department, head_count, young_professionals FROM department_summary ORDER BY 1")
    assert rows == [("Engineering", 2, 2), ("Marketing", 2, 0), ("Sales", 1, 0)]


def test_second_run_merges_without_duplicates(built):
    loaded_before = query("SELECT max(_loaded_at) FROM fct_employee_events")[0][0]
    _ok(dbt("run-operation", "load_raw_employee_events"))
    _ok(dbt("build"))
    total, distinct = query("SELECT count(*), count(DISTINCT event_id) FROM fct_employee_events")[0]
    assert (total, distinct) == (7, 7)
    # The re-landed events were merged (their _loaded_at moved), not appended.
    loaded_after = query("SELECT min(_loaded_at) FROM fct_employee_events")[0][0]
    assert loaded_after > loaded_before
    snapshot = query(
        "SELECT count(*), count(DISTINCT employee_id), sum(IF(dbt_valid_to IS NULL, 1, 0)) "
        "FROM employees_snapshot"
    )[0]
    assert snapshot == (5, 5, 5)
    assert query("SELECT * FROM simple_pipeline ORDER BY id") == EXPECTED_SIMPLE_PIPELINE


def test_snapshot_records_a_change(built):
    query("UPDATE employees SET department = 'Sales' WHERE id = 4")
    try:
        _ok(dbt("snapshot"))
        versions = query(
            "SELECT department, dbt_valid_to IS NULL FROM employees_snapshot "
            "WHERE employee_id = 4 ORDER BY dbt_valid_from"
        )
        assert versions == [("Engineering", False), ("Sales", True)]
        assert query("SELECT count(*) FROM employees_snapshot WHERE employee_id <> 4")[0][0] == 4
    finally:
        _ok(dbt("seed", "--full-refresh"))
    assert query("SELECT department FROM employees WHERE id = 4") == [("Engineering",)]


def test_source_freshness_reads_the_loaded_at_column(built):
    proc = dbt("source", "freshness")
    _ok(proc)
    assert "PASS freshness of raw.employee_events" in proc.stdout
