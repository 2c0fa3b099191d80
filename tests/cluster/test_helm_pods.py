"""The pods the Helm values make, on the development cluster's own API server and kubelet.

Every pod of the Airflow deployment (rendered from helm-values/airflow.yaml through the contract chart)
goes through the API server's admission (a server-side dry run: Pod Security, service accounts) in the
namespace that enforces "restricted"; the Airflow image is not on this cluster, so they are admitted, not
run. Kyuubi's pod (helm-values/kyuubi.yaml and kyuubi-secure.yaml) runs, in a namespace enforcing
baseline as docs/production.md says, with its own securityContext, volumes and Secrets, its image swapped
for the cluster's busybox: the kubelet writes the Secret volumes and the image's user (uid 10009) reads
the keystore and kyuubi-defaults.conf, as Kyuubi's frontend does at start-up.
"""

from __future__ import annotations

import base64
import copy
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from helm_objects import VALUES, pod_specs, render

from dbt_spark_operator import compat
from dbt_spark_operator.dev.cluster import DevCluster

AIRFLOW = VALUES / "airflow.yaml"
KYUUBI = [VALUES / "kyuubi.yaml", VALUES / "kyuubi-secure.yaml"]
KYUUBI_NAMESPACE = "kyuubi-values"
KEYSTORE = b"\x30\x82 a PKCS#12 keystore's bytes"
CONF = "kyuubi.frontend.ssl.keystore.password=k3y store\nkyuubi.authentication.ldap.bindpw=b1nd\n"


@pytest.fixture(scope="module")
def cluster() -> DevCluster:
    return DevCluster.running()


@pytest.fixture(scope="module")
def core(cluster: DevCluster) -> Any:
    return cluster.core()


def model(kind: str, data: dict[str, Any]) -> Any:
    return compat.k8s_model_from_api_dict(f"V1{kind}", data)


def ensure(create: Any, *args: Any) -> None:
    """Create an object; one that exists already is fine (the suite may run twice on one cluster)."""
    from kubernetes.client.exceptions import ApiException

    try:
        create(*args)
    except ApiException as exc:
        if exc.status != 409:
            raise


def service_accounts(core: Any, namespace: str, specs: dict[str, dict[str, Any]]) -> None:
    """The service accounts the pods name (the charts create them; admission checks they exist)."""
    for name in {s.get("serviceAccountName", "default") for s in specs.values()} - {"default"}:
        ensure(
            core.create_namespaced_service_account,
            namespace,
            model("ServiceAccount", {"metadata": {"name": name}}),
        )


def admit(core: Any, namespace: str, name: str, spec: dict[str, Any]) -> str:
    """The API server's answer to creating this pod (a dry run: nothing is stored): "" or its refusal."""
    from kubernetes.client.exceptions import ApiException

    pod = model("Pod", {"metadata": {"name": name}, "spec": spec})
    try:
        core.create_namespaced_pod(namespace, pod, dry_run="All")
    except ApiException as exc:
        return str(exc.body)
    return ""


def test_every_pod_of_the_airflow_deployment_is_admitted_by_the_api_server_at_restricted(cluster, core):
    specs = pod_specs(render("airflow-contract", "airflow", cluster.namespace, AIRFLOW))
    assert len(specs) == 7
    service_accounts(core, cluster.namespace, specs)
    refused = {name: admit(core, cluster.namespace, name, spec) for name, spec in specs.items()}
    assert {name: why for name, why in refused.items() if why} == {}


def test_the_charts_own_security_contexts_are_refused_by_the_api_server(cluster, core, tmp_path):
    values = yaml.safe_load(AIRFLOW.read_text())
    del values["securityContexts"], values["statsd"], values["dags"]["gitSync"]["securityContexts"]
    old = tmp_path / "airflow.yaml"
    old.write_text(yaml.safe_dump(values))
    specs = pod_specs(render("airflow-contract", "airflow", cluster.namespace, old))
    service_accounts(core, cluster.namespace, specs)
    for name, spec in specs.items():
        why = admit(core, cluster.namespace, name, spec)
        assert 'violates PodSecurity \\"restricted:latest\\"' in why and "runAsNonRoot" in why, (name, why)


@pytest.fixture(scope="module")
def kyuubi_namespace(core: Any) -> Iterator[str]:
    """Kyuubi's namespace as docs/production.md labels it, the two Secrets made as it says."""
    labels = {
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/warn": "restricted",
    }
    ensure(
        core.create_namespace, model("Namespace", {"metadata": {"name": KYUUBI_NAMESPACE, "labels": labels}})
    )
    for name, key, content in (
        ("kyuubi-tls", "keystore.p12", KEYSTORE),
        ("kyuubi-conf", "kyuubi-defaults.conf", CONF.encode()),
    ):
        secret = {"metadata": {"name": name}, "data": {key: base64.b64encode(content).decode()}}
        ensure(core.create_namespaced_secret, KYUUBI_NAMESPACE, model("Secret", secret))
    yield KYUUBI_NAMESPACE
    core.delete_namespace(KYUUBI_NAMESPACE)
    gone(lambda: core.read_namespace(KYUUBI_NAMESPACE))  # a second run makes it again


def gone(read: Any, timeout: float = 90) -> None:
    """Wait until ``read()`` answers 404."""
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            read()
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(1)
    raise AssertionError(f"still there after {timeout} s")


READ = "set -e; id -u; id -G; wc -c < /opt/kyuubi/tls/keystore.p12; cat /opt/kyuubi/conf/kyuubi-defaults.conf"


def run_kyuubi_pod(
    cluster: DevCluster, core: Any, namespace: str, name: str, spec: dict[str, Any]
) -> tuple[str, str]:
    """Kyuubi's rendered pod with the cluster's busybox in place of the Kyuubi image and ``READ`` as its
    command (no env: it names Secrets of the object store this check does not make): phase and log."""
    spec = copy.deepcopy(spec)
    spec.pop("initContainers", None)
    for container in spec["containers"]:
        container.update(
            image=cluster.images["xcom_sidecar"], imagePullPolicy="Never", command=["sh", "-c", READ]
        )
        for key in ("args", "env", "envFrom", "livenessProbe", "readinessProbe", "startupProbe", "ports"):
            container.pop(key, None)
    spec["restartPolicy"] = "Never"
    service_accounts(core, namespace, {name: spec})
    core.create_namespaced_pod(namespace, model("Pod", {"metadata": {"name": name}, "spec": spec}))
    deadline = time.monotonic() + 120
    phase = ""
    while time.monotonic() < deadline:
        phase = core.read_namespaced_pod(name, namespace).status.phase
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(1)
    # The raw bytes: the client's own decoding of a log gives the repr of the bytes.
    log = core.read_namespaced_pod_log(name, namespace, _preload_content=False).data.decode()
    core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    gone(lambda: core.read_namespaced_pod(name, namespace))
    return phase, log


def kyuubi_docs(namespace: str) -> list[dict[str, Any]]:
    return render("kyuubi-contract", "kyuubi-dbt", namespace, *KYUUBI)


def config_maps(core: Any, namespace: str, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            body = {"metadata": {"name": doc["metadata"]["name"]}, "data": doc.get("data") or {}}
            ensure(core.create_namespaced_config_map, namespace, model("ConfigMap", body))


def test_the_kyuubi_user_reads_its_keystore_and_conf_from_the_kubelets_secret_volumes(
    cluster, core, kyuubi_namespace
):
    docs = kyuubi_docs(kyuubi_namespace)
    config_maps(core, kyuubi_namespace, docs)
    spec = pod_specs(docs)["kyuubi-dbt"]
    phase, log = run_kyuubi_pod(cluster, core, kyuubi_namespace, "kyuubi-values-read", spec)
    assert phase == "Succeeded", log
    uid, groups, size, *conf = log.splitlines()
    assert (uid, int(size)) == ("10009", len(KEYSTORE)), log
    assert {"0", "10009"} <= set(groups.split())
    assert "\n".join(conf) + "\n" == CONF


def test_without_fs_group_the_kyuubi_user_cannot_read_a_0400_keystore_on_the_node(
    cluster, core, kyuubi_namespace
):
    docs = kyuubi_docs(kyuubi_namespace)
    config_maps(core, kyuubi_namespace, docs)
    spec = pod_specs(docs)["kyuubi-dbt"]
    del spec["securityContext"]["fsGroup"]
    (tls,) = [v for v in spec["volumes"] if v["name"] == "tls"]
    tls["secret"]["defaultMode"] = 0o400
    phase, log = run_kyuubi_pod(cluster, core, kyuubi_namespace, "kyuubi-values-denied", spec)
    assert phase == "Failed" and "Permission denied" in log, log
