"""The command line without an engine: ``check`` reads the connection on demand and lists every problem,
``pods`` prints the pods tasks would create, ``manifest`` names a missing project in one line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from helpers import BIN, K8S_VERSION, ROOT, cli, kyuubi_connection, one_error_line, parse_env

LDAP = {"host": "kyuubi", "login": "etl", "password": "Pw-never-read-at-parse", "extra": {"auth": "LDAP"}}


def test_the_down_backend_is_asked_when_a_connection_is_read(tmp_path):
    """The down secrets backend of ``parse_env`` is asked once something reads the connection: its
    silence while tests/integration/test_connection_at_run.py parses every DAG is proof that parsing
    read none."""
    asked = tmp_path / "asked"
    proc = cli("check", "simple_model_test", env=parse_env("local", None, asked))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "- Kyuubi connection 'kyuubi_default' is not defined (AirflowNotFoundException)" in proc.stdout
    assert "connection kyuubi_default" in asked.read_text().splitlines()


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


def test_pods_command_prints_the_manifest():
    proc = subprocess.run(
        [
            str(BIN / "dbt-spark-operator"),
            "pods",
            "analytics_kubernetes",
            "--task",
            "analytics.simple_pipeline.run",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (manifest,) = list(yaml.safe_load_all(proc.stdout))
    assert manifest["kind"] == "Pod" and manifest["metadata"]["labels"]["dbt-node"] == "simple-pipeline"
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_pods_prints_the_build_pod_and_every_node_s_pod():
    env = dict(os.environ)
    env.update(
        [kyuubi_connection(host="kyuubi", login="etl", password="Pods-S3cret", extra={"auth": "LDAP"})]
    )
    folder = str(ROOT / "tests" / "integration_dags")
    proc = cli("pods", "analytics_watcher_kubernetes", "--dags-folder", folder, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pods = list(yaml.safe_load_all(proc.stdout))
    kinds = [p["metadata"]["labels"]["dbt-resource-type"] for p in pods]
    assert kinds.count("build") == 1 and kinds.count("model") == 5 and kinds.count("test") > 10
    for pod in pods:
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    assert "Pods-S3cret" not in proc.stdout + proc.stderr  # the password: a Secret reference only
    (build,) = [p for p in pods if p["metadata"]["labels"]["dbt-resource-type"] == "build"]
    assert build["spec"]["containers"][0]["args"][:4] == ["dbt", "build", "--log-format", "json"]


def test_missing_project_directory_is_one_line(tmp_path):
    line = one_error_line(cli("manifest", str(tmp_path / "nope")))
    expected = f"dbt project directory {tmp_path / 'nope'} is not usable: no such directory"
    assert line == f"dbt-spark-operator: error: {expected}"
    (tmp_path / "empty").mkdir()
    line = one_error_line(cli("manifest", str(tmp_path / "empty")))
    assert line.endswith("is not usable: no dbt_project.yml in it")
