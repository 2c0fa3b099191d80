"""The private APIs of dbt_spark_operator.compat that need Airflow's metadata database, checked against
the installed Airflow (the rest: tests/unit/test_compat.py and tests/unit/test_compat_rendering.py)."""

from __future__ import annotations

from pathlib import Path

from dbt_spark_operator import compat


def test_airflow_orm_has_what_the_demo_reads(airflow_db):
    from airflow.models import DagRun, TaskInstance

    for model, columns in (
        (DagRun, ("dag_id", "run_id", "state", "id")),
        (TaskInstance, ("task_id", "state", "duration", "start_date")),
    ):
        missing = [c for c in columns if not hasattr(model, c)]
        assert missing == [], f"compat.latest_run: {model.__name__} has no {missing}"
    assert compat.latest_run("no_such_dag") == ("missing", [])
    assert Path(compat.__file__).name == "compat.py"
