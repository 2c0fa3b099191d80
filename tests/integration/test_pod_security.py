"""Every pod the package creates, sidecars included, against the Pod Security Standards as the API
server's PodSecurity admission evaluates them: tools/podsecurity wraps k8s.io/pod-security-admission
(``policy.NewEvaluator(policy.DefaultChecks())``, the latest version), built here with Go."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import kubernetes_validate
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG

from dbt_spark_operator import PodSettings, dbt_task_group
from dbt_spark_operator.runtime.rendered_pod import pod_body, render_pod
from helpers import K8S_VERSION, ROOT, SESSION_DIR, kyuubi_connection

FOLDERS = ("dags", "tests/integration_dags", "tests/user_dags")


@pytest.fixture(scope="module")
def podsecurity() -> Path:
    """The evaluator, built from tools/podsecurity (modules from the Go module proxy, go.sum pinned)."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    assert Path(go).exists(), "Go is missing: the polyglot machine ships it at /usr/local/go/bin/go"
    binary = SESSION_DIR / "podsecurity"
    proc = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=ROOT / "tools" / "podsecurity",
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return binary


def evaluate(binary: Path, pods: list[dict], level: str = "restricted") -> list[dict]:
    proc = subprocess.run(
        [str(binary), "-level", level], input=json.dumps(pods), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def ldap_connection(monkeypatch):
    """A connection with a password: every pod carries the Secret reference."""
    monkeypatch.setenv(
        *kyuubi_connection(host="kyuubi", login="etl", password="Psa-S3cret", extra={"auth": "LDAP"})
    )


def test_every_pod_of_every_dag_is_admitted_at_restricted(podsecurity, ldap_connection, monkeypatch):
    monkeypatch.setenv("DBT_SPARK_EXECUTION", "kubernetes")
    pods = []
    for folder in FOLDERS:
        bag = DagBag(dag_folder=str(ROOT / folder))
        assert bag.import_errors == {}
        for dag in bag.dags.values():
            pods += [pod_body(render_pod(t)) for t in dag.tasks if hasattr(t, "build_pod_request_obj")]
    assert len(pods) > 70  # every pod task of the Kubernetes DAGs, and the operators of the local ones
    sidecars = [p for p in pods if len(p["spec"]["containers"]) == 2]
    assert sidecars, "the command operators push XCom: KubernetesPodOperator adds its sidecar"
    for pod in pods:
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    verdicts = evaluate(podsecurity, pods)
    refused = [(v["name"], v["forbidden"]) for v in verdicts if not v["allowed"]]
    assert refused == []
    assert len(verdicts) == len(pods)


def test_the_minikube_hostpath_preset_is_named_and_refused_by_a_hardened_cluster(podsecurity):
    """The checker is live: the minikube layout (hostPath volumes) is forbidden even at baseline."""
    with DAG("minikube", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group(
            "analytics", execution="kubernetes", pod=PodSettings.minikube(), select=["simple_pipeline"]
        )
    pods = [pod_body(render_pod(t)) for t in dag.tasks]
    volumes = {v["name"]: v for v in pods[0]["spec"]["volumes"]}
    assert volumes["dbt-projects"]["hostPath"] == {"path": "/opt/dbt/projects", "type": "Directory"}
    for verdict in evaluate(podsecurity, pods, level="baseline"):
        assert not verdict["allowed"]
        assert [f["reason"] for f in verdict["forbidden"]] == ["hostPath volumes"]


def test_podsecurity_refuses_bad_input(podsecurity):
    proc = subprocess.run([str(podsecurity)], input="{}", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not a JSON array of pods" in proc.stderr
    assert os.access(podsecurity, os.X_OK)
