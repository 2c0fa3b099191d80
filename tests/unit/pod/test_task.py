"""What the package adds to KubernetesPodOperator (pod_task.py): the XCom sidecar's image from
PodSettings, and a pod the API server refuses failing with its reason in one line. The cluster suite
(tests/cluster) shows both on a real API server."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
from airflow.sdk import DAG
from kubernetes.client.exceptions import ApiException

from dbt_spark_operator import DbtSparkDebugOperator, PodSettings
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.pod.settings import XCOM_SIDECAR_IMAGE_ENV
from dbt_spark_operator.pod.task import refusal
from dbt_spark_operator.runtime.rendered_pod import render_pod
from helpers import ROOT

PROJECT = ROOT / "dbt" / "analytics"
FORBIDDEN = (
    'pods "dbt-debug-x" is forbidden: violates PodSecurity "restricted:latest": '
    'hostPath volumes (volumes "dbt-projects", "dbt-state")'
)


def _refused(status: int, body: dict[str, object] | str) -> ApiException:
    exc = ApiException(status=status, reason="Forbidden")
    exc.body = body if isinstance(body, str) else json.dumps(body)
    return exc


def _debug(pod: PodSettings) -> DbtSparkDebugOperator:
    with DAG("sidecar", schedule=None, start_date=datetime(2025, 1, 1)):
        return DbtSparkDebugOperator(task_id="dbt_debug", project=PROJECT, execution="kubernetes", pod=pod)


def test_the_xcom_sidecar_runs_the_image_pod_settings_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KYUUBI_DEFAULT", json.dumps({"conn_type": "kyuubi", "host": "h"}))
    pod = render_pod(_debug(PodSettings(xcom_sidecar_image="localhost/sidecar:1")))
    sidecar = next(c for c in pod.spec.containers if c.name == PodDefaults.SIDECAR_CONTAINER_NAME)
    assert (sidecar.image, sidecar.image_pull_policy) == ("localhost/sidecar:1", "Never")

    monkeypatch.setenv(XCOM_SIDECAR_IMAGE_ENV, "localhost/from-env:2")
    pod = render_pod(_debug(PodSettings(image_pull_policy="IfNotPresent")))
    sidecar = next(c for c in pod.spec.containers if c.name == PodDefaults.SIDECAR_CONTAINER_NAME)
    assert (sidecar.image, sidecar.image_pull_policy) == ("localhost/from-env:2", "IfNotPresent")

    monkeypatch.delenv(XCOM_SIDECAR_IMAGE_ENV)
    pod = render_pod(_debug(PodSettings()))
    sidecar = next(c for c in pod.spec.containers if c.name == PodDefaults.SIDECAR_CONTAINER_NAME)
    assert sidecar.image == PodDefaults.SIDECAR_CONTAINER.image  # the provider's own choice


def test_an_empty_sidecar_image_is_refused_at_parse() -> None:
    with pytest.raises(DbtSparkOperatorError, match="xcom_sidecar_image must name an image"):
        PodSettings(xcom_sidecar_image=" ")


def test_the_refusal_is_the_api_servers_message_in_one_line() -> None:
    assert refusal(_refused(403, {"kind": "Status", "message": FORBIDDEN})) == FORBIDDEN
    invalid = {"message": 'Pod "x" is invalid:\n spec.containers[0].image: Required'}
    assert refusal(_refused(422, invalid)) == 'Pod "x" is invalid: spec.containers[0].image: Required'

    assert refusal(_refused(403, "not json")) == "Forbidden"
    assert refusal(_refused(500, {"message": "etcd timeout"})) is None  # no refusal: the provider retries
    assert refusal(_refused(409, {"message": "already exists"})) is None


def test_a_refused_pod_fails_the_task_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def create(self: KubernetesPodOperator, pod_request_obj: object, context: object) -> object:
        raise _refused(403, {"message": FORBIDDEN})

    monkeypatch.setattr(KubernetesPodOperator, "get_or_create_pod", create)
    task = _debug(PodSettings())
    pod = task.build_pod_request_obj(None, dry_run=True)
    with pytest.raises(DbtSparkOperatorError) as raised:
        task.get_or_create_pod(pod, {})
    line = str(raised.value)
    assert "\n" not in line and line.startswith("Kubernetes refused the dbt pod ")
    assert line.endswith(f"in namespace airflow: {FORBIDDEN}")

    def fails(self: KubernetesPodOperator, pod_request_obj: object, context: object) -> object:
        raise _refused(500, {"message": "etcd timeout"})

    monkeypatch.setattr(KubernetesPodOperator, "get_or_create_pod", fails)
    with pytest.raises(ApiException):  # not a refusal: left as the provider raised it
        task.get_or_create_pod(pod, {})


def test_a_node_s_pod_task_keeps_what_its_pod_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cosmos runs a node task's pod and drops its result; the task's own extract_xcom keeps it."""
    import inspect

    import cosmos.operators._k8s_common as k8s_common

    from dbt_spark_operator.runtime.kubernetes_operators import DbtRunKubernetesOperator

    source = inspect.getsource(k8s_common.build_and_run_cmd)
    assert "pod_operator_class.execute(operator, context)" in source and "return result" not in source, (
        "CosmosPodTask: Cosmos's build_and_run_cmd changed (returns the result?)"
    )
    assert "self.extract_xcom(pod=self.pod)" in inspect.getsource(KubernetesPodOperator.execute_sync), (
        "CosmosPodTask: KubernetesPodOperator no longer reads the sidecar via extract_xcom"
    )

    with DAG("kept", schedule=None, start_date=datetime(2025, 1, 1)):
        task = DbtRunKubernetesOperator(task_id="run", project_dir="/opt/dbt/projects/p", profile_config=None)
    assert task.dbt_pod_result is None
    monkeypatch.setattr(KubernetesPodOperator, "extract_xcom", lambda self, pod, **kwargs: {"results": [pod]})
    assert task.extract_xcom("pod") == {"results": ["pod"]}
    assert task.dbt_pod_result == {"results": ["pod"]}
