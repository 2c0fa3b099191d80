"""The connection is read when a task runs, never at DAG parse: every DAG imports without it (and
without a metadata database), and a task with a bad connection fails with one clear line
(tests/unit/test_cli.py: ``dbt-spark-operator check`` reads it on demand and lists every problem)."""

from __future__ import annotations

import pytest

from helpers import ROOT, dags_test, kyuubi_connection, parse_dags, parse_env

FOLDERS = ("dags", "tests/integration_dags", "tests/user_dags", "tests/stack_dags")
REFUSED = [f"refused_{case}" for case in ("no_password", "plain_client", "unknown_user", "wrong_password")]
DAG_IDS = [
    "analytics_kubernetes",
    "analytics_watcher_kubernetes",
    "asset_consumer",
    "imported_marts",
    *REFUSED,
    "sample_dbt_pipeline",
    "shop",
    "simple_model_test",
    "simple_model_watcher",
    "simple_pipeline_alone",
    "watched",
]
NOT_DBT = {"asset_consumer": 1}  # a plain DAG with one task; the others each have a dbt graph of 6 or more
LDAP = {"host": "kyuubi", "login": "etl", "password": "Pw-never-read-at-parse", "extra": {"auth": "LDAP"}}


@pytest.mark.parametrize("connection", [None, LDAP], ids=["no-connection", "ldap-password"])
@pytest.mark.parametrize("execution", ["kubernetes", "local"])
def test_every_dag_imports_without_connection_or_metadata_database(execution, connection, tmp_path):
    asked = tmp_path / "asked"
    result = parse_dags([ROOT / folder for folder in FOLDERS], parse_env(execution, connection, asked))
    assert result["errors"] == {}
    assert sorted(result["dags"]) == DAG_IDS
    sizes = {dag_id: count if dag_id in NOT_DBT else count > 5 for dag_id, count in result["dags"].items()}
    assert sizes == {dag_id: NOT_DBT.get(dag_id, True) for dag_id in DAG_IDS}, result["dags"]
    if connection is None:
        assert not asked.exists(), asked.read_text()  # no secrets backend call at parse


BAD_DAG = """
from datetime import datetime
from airflow.sdk import DAG
from dbt_spark_operator import dbt_task_group
with DAG("bad_conn", schedule=None, start_date=datetime(2025, 1, 1)):
    dbt_task_group("analytics", select=["stg_employees"], exclude=["resource_type:test"])
"""


@pytest.mark.parametrize("execution", ["kubernetes", "local"])
def test_a_task_with_a_bad_connection_fails_with_one_clear_line(execution, airflow_db, tmp_path):
    """The task runner reads the connection (the task's pre_execute) before dbt starts or a pod is built."""
    (tmp_path / "bad.py").write_text(BAD_DAG)
    connection = dict([kyuubi_connection(conn_type="postgres", host="127.0.0.1")])
    proc, _ = dags_test("bad_conn", tmp_path, DBT_SPARK_EXECUTION=execution, **connection)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    line = "Kyuubi connection 'kyuubi_default' has type 'postgres'; expected one of kyuubi, hiveserver2"
    assert f"DbtSparkOperatorError: {line}" in output
    assert "new_state=failed" in output
    # Nothing ran: no dbt command started, no pod was asked for.
    assert "Running command" not in output and "Running the pod's command" not in output
