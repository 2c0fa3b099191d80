"""PodSettings and the pod a task gets: dicts as Kubernetes models or one clear error, the volume
layout, every container hardened, a password only as a Secret reference."""

from __future__ import annotations

from datetime import datetime

import kubernetes_validate
import pytest
import yaml
from airflow.sdk import DAG
from kubernetes.client import models as k8s

from dbt_spark_operator import DbtSparkOperatorError, PodSettings, dbt_task_group
from dbt_spark_operator.commands.operators import OPERATORS
from dbt_spark_operator.runtime.rendered_pod import pod_body, render_pod
from helpers import K8S_VERSION, kyuubi_connection

PASSWORD = "Ldap-S3cret-4-Kyuubi!"


@pytest.fixture
def ldap_connection(monkeypatch):
    """A connection with a password: every pod carries the Secret reference."""
    monkeypatch.setenv(
        *kyuubi_connection(host="kyuubi", login="etl", password=PASSWORD, extra={"auth": "LDAP"})
    )
    return "kyuubi_default"


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (
            {"requests": {"memory": "512MB"}},
            "resources.requests.memory = '512MB' is not a Kubernetes quantity",
        ),
        ({"request": {"memory": "1Gi"}}, "resources: unknown key 'request'"),
    ],
)
def test_bad_resources_are_rejected(resources, message):
    with pytest.raises(DbtSparkOperatorError, match=message):
        PodSettings(resources=resources)


def test_dict_resources_become_models():
    pod = PodSettings(resources={"requests": {"memory": "1Gi", "cpu": "1"}, "limits": {"memory": "2Gi"}})
    assert isinstance(pod.resources, k8s.V1ResourceRequirements)
    assert pod.resources.requests == {"memory": "1Gi", "cpu": "1"}


def test_dict_volumes_become_models_in_a_valid_pod():
    """The first version's "Expected V1VolumeMount, got dict": dicts are converted, or rejected by name."""
    pod = PodSettings(
        extra_volumes=[{"name": "ca", "secret": {"secretName": "company-ca"}}],
        extra_volume_mounts=[{"name": "ca", "mountPath": "/etc/ssl/company", "readOnly": True}],
    )
    assert isinstance(pod.extra_volume_mounts[0], k8s.V1VolumeMount)
    with DAG("mounts", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group("analytics", execution="kubernetes", pod=pod, select=["simple_pipeline"])
    (manifest,) = [pod_body(render_pod(t)) for t in dag.tasks if t.task_id.endswith(".run")]
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    assert {"name": "ca", "secret": {"secretName": "company-ca"}} in manifest["spec"]["volumes"]
    with pytest.raises(DbtSparkOperatorError, match="V1VolumeMount has no field 'mount_pth'"):
        PodSettings(extra_volumes=pod.extra_volumes, extra_volume_mounts=[{"name": "ca", "mount_pth": "/x"}])
    with pytest.raises(DbtSparkOperatorError, match="volume mount 'nope' names no volume"):
        PodSettings(extra_volume_mounts=[{"name": "nope", "mountPath": "/x"}])


def test_the_volume_layout_comes_from_the_environment_or_fails_in_one_line(monkeypatch):
    monkeypatch.setenv("DBT_SPARK_VOLUMES", "minikube-hostpath")
    assert PodSettings().volumes()[0].host_path.path == "/opt/dbt/projects"
    monkeypatch.setenv("DBT_SPARK_VOLUMES", "nfs")
    with pytest.raises(
        DbtSparkOperatorError, match="volume_layout must be pvc or minikube-hostpath, got 'nfs'"
    ):
        PodSettings()


def test_the_default_layout_is_two_persistent_volume_claims(ldap_connection):
    with DAG("pvc", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group("analytics", execution="kubernetes", pod=PodSettings(password_secret=("s", "k")))
    pod = render_pod(dag.task_dict["analytics.simple_pipeline.run"])
    claims = {
        v.name: v.persistent_volume_claim.claim_name for v in pod.spec.volumes if v.persistent_volume_claim
    }
    assert claims == {"dbt-projects": "dbt-projects", "dbt-state": "dbt-state"}
    assert not [v for v in pod.spec.volumes if v.host_path]


def test_every_container_is_hardened_sidecar_included(ldap_connection):
    with DAG("hardened", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        for cls in OPERATORS:
            pod = PodSettings(password_secret=("kyuubi-credentials", "password"))
            cls(task_id=cls.command.replace(" ", "_"), project="analytics", execution="kubernetes", pod=pod)
    for task in dag.tasks:
        pod = render_pod(task)
        names = [c.name for c in pod.spec.containers]
        assert names == ["base", "airflow-xcom-sidecar"], task.task_id
        for container in pod.spec.containers:
            sc = container.security_context
            assert sc.allow_privilege_escalation is False and sc.capabilities.drop == ["ALL"], container.name
            assert sc.run_as_non_root and sc.read_only_root_filesystem, container.name


def test_no_password_in_any_kubernetes_pod(ldap_connection):
    pod = PodSettings(password_secret=("kyuubi-credentials", "password"))
    with DAG("secret_pods", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group("analytics", conn_id=ldap_connection, execution="kubernetes", pod=pod)
        for cls in OPERATORS:
            cls(
                task_id=f"op_{cls.command.replace(' ', '_')}",
                project="analytics",
                conn_id=ldap_connection,
                execution="kubernetes",
                pod=pod,
            )
    manifests = [pod_body(render_pod(task)) for task in dag.tasks]
    assert len(manifests) == len(dag.tasks) > 20
    assert PASSWORD not in yaml.safe_dump_all(manifests)
    for manifest in manifests:
        env = {e["name"]: e for e in manifest["spec"]["containers"][0]["env"]}
        assert env["COSMOS_CONN_KYUUBI_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "kyuubi-credentials"
        # Airflow rendered the pod's templates (as a worker does); dbt's own Jinja came through intact.
        profile = yaml.safe_load(env["DBT_SPARK_PROFILE_YAML"]["value"])
        target = profile["analytics"]["outputs"]["kyuubi"]
        assert target["password"] == "{{ env_var('COSMOS_CONN_KYUUBI_PASSWORD') }}"
