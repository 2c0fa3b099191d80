"""The connection is read when a task runs, never at DAG parse: every DAG imports without it (and
without a metadata database), a task with a bad connection fails with one clear line, and
``dbt-spark-operator check`` reads it on demand and lists every problem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import ROOT, cli, dags_test, kyuubi_connection, parse_dags

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


def parse_env(execution: str, connection: dict | None, asked: Path) -> dict[str, str]:
    """No connection anywhere but a secrets backend that is down (or the given connection), and a
    metadata database that does not answer: what a CI integrity check or a laptop has. Every look-up
    the backend gets is written to ``asked``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        DBT_SPARK_EXECUTION=execution,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://nobody@127.0.0.1:1/nothing",
        AIRFLOW__SECRETS__BACKEND="down_secrets.DownSecretsBackend",
        DOWN_SECRETS_LOG=str(asked),
        PYTHONPATH=str(ROOT / "tests"),
    )
    if connection is not None:
        env.update([kyuubi_connection(**connection)])
    return env


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


def test_the_down_backend_is_asked_when_a_connection_is_read(tmp_path):
    """The backend above is asked once something reads the connection: its silence at parse is proof
    that parsing read none."""
    asked = tmp_path / "asked"
    proc = cli("check", "simple_model_test", env=parse_env("local", None, asked))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "- Kyuubi connection 'kyuubi_default' is not defined (AirflowNotFoundException)" in proc.stdout
    assert "connection kyuubi_default" in asked.read_text().splitlines()


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


def check(dag_id: str, folder: Path, connection: dict, execution: str = "kubernetes"):
    env = {**os.environ, "DBT_SPARK_EXECUTION": execution}
    env.update([kyuubi_connection(**connection)])
    return cli("check", dag_id, "--dags-folder", str(folder), env=env)


NO_SECRET_DAG = """
from datetime import datetime
from airflow.sdk import DAG
from dbt_spark_operator import dbt_task_group
with DAG("no_secret", schedule=None, start_date=datetime(2025, 1, 1)):
    dbt_task_group("analytics", execution="kubernetes")
"""


@pytest.mark.parametrize(
    ("connection", "problem"),
    [
        (
            {"conn_type": "postgres", "host": "db"},
            "Kyuubi connection 'kyuubi_default' has type 'postgres'; expected one of kyuubi, hiveserver2",
        ),
        (
            {"host": "kyuubi", "password": "Pw-check-9"},
            "Kyuubi connection 'kyuubi_default' has a password but auth is NONE: use auth LDAP or CUSTOM",
        ),
        (
            {"host": "kyuubi", "extra": {"connect_retries": "many"}},
            "Kyuubi connection 'kyuubi_default' connect_retries must be a whole number, got 'many'",
        ),
    ],
)
def test_check_lists_a_bad_connection(connection, problem):
    proc = check("sample_dbt_pipeline", ROOT / "dags", connection)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("DAG sample_dbt_pipeline: 1 problem(s) in ")
    assert lines[1].startswith(f"- {problem}") and "tasks: dbt_debug, ...)" in lines[1]
    assert "Pw-check-9" not in proc.stdout + proc.stderr


def test_check_names_the_missing_secret(tmp_path):
    (tmp_path / "no_secret.py").write_text(NO_SECRET_DAG)
    proc = check("no_secret", tmp_path, LDAP)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "- the Kyuubi connection has a password: name the Kubernetes Secret that holds it" in proc.stdout
    assert LDAP["password"] not in proc.stdout + proc.stderr


@pytest.mark.parametrize("execution", ["kubernetes", "local"])
def test_check_passes_every_sample_dag_with_a_password_connection(execution):
    for dag_id in (
        "sample_dbt_pipeline",
        "simple_model_test",
        "simple_model_watcher",
        "analytics_kubernetes",
    ):
        proc = check(dag_id, ROOT / "dags", LDAP, execution)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.startswith(f"DAG {dag_id}: ")
        assert "dbt tasks checked, connection, profile and pods OK" in proc.stdout
