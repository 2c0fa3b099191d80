"""Where projects live: a projects directory without the DAG's project is one clear import error."""

from __future__ import annotations

from helpers import ROOT


def test_missing_project_directory_is_one_clear_import_error(monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("DBT_SPARK_PROJECTS_DIR", str(tmp_path / "nowhere"))
    bag = DagBag(dag_folder=str(ROOT / "dags" / "simple_model_test.py"))
    (message,) = bag.import_errors.values()
    assert (
        f"dbt project directory {tmp_path / 'nowhere' / 'analytics'} is not usable: no such directory"
        in message
    )
