"""What the cluster's own code does with the pods helm renders from helm-values/ (through the contract
charts of tests/charts): the API server's Pod Security admission (tools/podsecurity, the code of
k8s.io/pod-security-admission) on every pod of the Airflow deployment and on Kyuubi's, and the kubelet's
volume code (tools/kubeletvolume, k8s.io/kubernetes v1.34.4) writing Kyuubi's Secret volumes, whose files
a process with the identity the pod gives the image's user (uid 10009) then reads; a JVM with the
rendered trust-store options against a server a private CA signed. Both tools are built here with Go from
the module proxy."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_objects import VALUES, pod_specs, render

from helpers import K8S_VERSION, ROOT, SESSION_DIR, free_port

AIRFLOW = VALUES / "airflow.yaml"
KYUUBI = [VALUES / "kyuubi.yaml", VALUES / "kyuubi-secure.yaml"]


def go_build(tool: str) -> Path:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    assert Path(go).exists(), "Go is missing: the polyglot machine ships it at /usr/local/go/bin/go"
    binary = SESSION_DIR / f"{tool}-rendered"
    proc = subprocess.run(
        [go, "build", "-trimpath", "-o", str(binary), "."],
        cwd=ROOT / "tools" / tool,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return binary


@pytest.fixture(scope="module")
def podsecurity() -> Path:
    return go_build("podsecurity")


@pytest.fixture(scope="module")
def kubeletvolume() -> Path:
    return go_build("kubeletvolume")


def as_pods(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pods = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
        for name, spec in pod_specs(docs).items()
    ]
    for pod in pods:
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    return pods


def evaluate(binary: Path, pods: list[dict[str, Any]], level: str) -> dict[str, list[str]]:
    """Each pod's reasons for refusal at ``level`` (none: admitted)."""
    proc = subprocess.run(
        [str(binary), "-level", level], input=json.dumps(pods), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return {v["name"]: [f["reason"] for f in v["forbidden"]] for v in json.loads(proc.stdout)}


def test_every_pod_of_the_airflow_deployment_is_admitted_at_restricted(podsecurity):
    verdicts = evaluate(
        podsecurity, as_pods(render("airflow-contract", "airflow", "airflow", AIRFLOW)), "restricted"
    )
    assert verdicts == {
        "airflow-api-server": [],
        "airflow-dag-processor": [],
        "airflow-run-airflow-migrations": [],
        "airflow-scheduler": [],
        "airflow-statsd": [],
        "airflow-triggerer": [],
        "pod-template": [],
    }


def test_the_charts_own_security_contexts_are_refused_at_restricted(podsecurity, tmp_path):
    """The values without their securityContexts (as they were): every pod is refused, git-sync's
    containers for privilege escalation and capabilities too."""
    values = yaml.safe_load(AIRFLOW.read_text())
    del values["securityContexts"], values["statsd"], values["dags"]["gitSync"]["securityContexts"]
    old = tmp_path / "airflow.yaml"
    old.write_text(yaml.safe_dump(values))
    verdicts = evaluate(
        podsecurity, as_pods(render("airflow-contract", "airflow", "airflow", old)), "restricted"
    )
    assert len(verdicts) == 7
    for name, reasons in verdicts.items():
        assert {"runAsNonRoot != true", "seccompProfile"} <= set(reasons), name
    for name in ("airflow-dag-processor", "airflow-triggerer", "pod-template"):
        assert {"allowPrivilegeEscalation != false", "unrestricted capabilities"} <= set(verdicts[name])


def test_the_kyuubi_pod_is_admitted_at_baseline_and_short_of_restricted_only_where_its_chart_cannot_reach(
    podsecurity,
):
    """Kyuubi's chart has no container securityContext: its pod declares the user, non-root and seccomp,
    and cannot declare the container's privilege escalation and capabilities. Its namespace enforces
    baseline (docs/production.md)."""
    pods = as_pods(
        render("kyuubi-contract", "kyuubi-dbt", "kyuubi", *KYUUBI, VALUES / "kyuubi-ldaps-ca.yaml")
    )
    assert evaluate(podsecurity, pods, "baseline") == {"kyuubi-dbt": []}
    restricted = evaluate(podsecurity, pods, "restricted")
    assert sorted(restricted["kyuubi-dbt"]) == [
        "allowPrivilegeEscalation != false",
        "unrestricted capabilities",
    ]


@pytest.fixture
def node_dir() -> Iterator[Path]:
    """A directory other users may traverse, as the kubelet's pods directory is (pytest's are 0700)."""
    path = Path(tempfile.mkdtemp(prefix="kubelet-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


KEYSTORE = b"\x30\x82 a PKCS#12 keystore's bytes"
CONF_SECRET = "kyuubi.frontend.ssl.keystore.password=k3y store\nkyuubi.authentication.ldap.bindpw=b1nd\n"


def kubelet_files(
    binary: Path, docs: list[dict[str, Any]], pod: dict[str, Any], root: Path
) -> dict[str, Path]:
    """The kubelet's volumes for ``pod`` under ``root`` (the Secrets as docs/production.md creates them,
    the ConfigMaps as rendered): each container mount path, by the directory that backs it."""
    secrets = [
        {"metadata": {"name": "kyuubi-tls"}, "data": {"keystore.p12": base64.b64encode(KEYSTORE).decode()}},
        {
            "metadata": {"name": "kyuubi-conf"},
            "data": {"kyuubi-defaults.conf": base64.b64encode(CONF_SECRET.encode()).decode()},
        },
    ]
    config_maps = [{**d, "data": d.get("data") or {}} for d in docs if d["kind"] == "ConfigMap"]
    body = {
        "pod": {"metadata": {"name": "kyuubi-dbt-0"}, "spec": pod},
        "secrets": secrets,
        "configMaps": config_maps,
    }
    proc = subprocess.run(
        [str(binary), "-dir", str(root)], input=json.dumps(body), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    (container,) = pod["containers"]
    return {
        m["mountPath"]: root / m["name"] for m in container["volumeMounts"] if (root / m["name"]).is_dir()
    }


def read_as(path: Path, user: int, group: int, groups: list[int]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["cat", str(path)], user=user, group=group, extra_groups=groups, capture_output=True, timeout=30
    )


def test_the_kyuubi_user_reads_its_keystore_and_its_conf_as_the_kubelet_writes_them(kubeletvolume, node_dir):
    docs = render("kyuubi-contract", "kyuubi-dbt", "kyuubi", *KYUUBI)
    pod = pod_specs(docs)["kyuubi-dbt"]
    mounts = kubelet_files(kubeletvolume, docs, pod, node_dir)
    keystore = mounts["/opt/kyuubi/tls"] / "keystore.p12"
    conf = mounts["/opt/kyuubi/conf"] / "kyuubi-defaults.conf"
    context = pod["securityContext"]
    identity = (context["runAsUser"], context["runAsGroup"], [context["fsGroup"]])
    assert identity == (10009, 0, [10009])
    for path, content in ((keystore, KEYSTORE), (conf, CONF_SECRET.encode())):
        stat = path.stat()
        assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (0, 10009, 0o440), path
        read = read_as(path, *identity)
        assert read.returncode == 0 and read.stdout == content, read.stderr


def test_without_fs_group_the_kyuubi_user_cannot_read_a_0400_keystore(kubeletvolume, node_dir):
    """What the values once rendered (defaultMode 0400, no securityContext): the kubelet writes the file
    root:root 0400; the image's user (10009, group root) cannot open it, so Kyuubi's TLS frontend cannot
    start."""
    docs = render("kyuubi-contract", "kyuubi-dbt", "kyuubi", *KYUUBI)
    pod = pod_specs(docs)["kyuubi-dbt"]
    del pod["securityContext"]
    (tls,) = [v for v in pod["volumes"] if v["name"] == "tls"]
    tls["secret"]["defaultMode"] = 0o400
    keystore = kubelet_files(kubeletvolume, docs, pod, node_dir)["/opt/kyuubi/tls"] / "keystore.p12"
    stat = keystore.stat()
    assert (stat.st_uid, stat.st_gid, stat.st_mode & 0o777) == (0, 0, 0o400)
    read = read_as(keystore, 10009, 0, [])
    assert read.returncode != 0 and b"Permission denied" in read.stderr


HANDSHAKE = """
import javax.net.ssl.*;

// What JNDI does for an ldaps:// URL: a socket from the JVM's default SSLSocketFactory, the server's
// name checked as for LDAPS, the handshake.
public class Handshake {
    public static void main(String[] args) throws Exception {
        SSLSocketFactory factory = (SSLSocketFactory) SSLSocketFactory.getDefault();
        SSLSocket socket = (SSLSocket) factory.createSocket(args[0], Integer.parseInt(args[1]));
        SSLParameters parameters = socket.getSSLParameters();
        parameters.setEndpointIdentificationAlgorithm("LDAPS");
        socket.setSSLParameters(parameters);
        socket.startHandshake();
        System.out.println("trusted " + socket.getSession().getPeerPrincipal());
        socket.close();
    }
}
"""


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_the_jvm_trusts_a_private_ldap_ca_through_the_rendered_options_and_no_password(tmp_path):
    """kyuubi-ldaps-ca.yaml's KYUUBI_JAVA_OPTS, as rendered, on a real JVM (Java 17): a trust store made
    as docs/production.md makes it (keytool, no password protection) lets the JVM's default socket
    factory accept a server whose certificate the private CA signed; without the options the handshake
    fails. Kyuubi's JVM itself does not run here."""
    docs = render("kyuubi-contract", "kyuubi-dbt", "kyuubi", *KYUUBI, VALUES / "kyuubi-ldaps-ca.yaml")
    (container,) = pod_specs(docs)["kyuubi-dbt"]["containers"]
    options = {e["name"]: e for e in container["env"]}["KYUUBI_JAVA_OPTS"]["value"].split()
    store_in_pod = options[0].removeprefix("-Djavax.net.ssl.trustStore=")
    openssl = ("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2")
    run(*openssl, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=private LDAP CA", cwd=tmp_path)
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "ldap.key", "-out", "ldap.csr",
        "-subj", "/CN=localhost", cwd=tmp_path)  # fmt: skip
    (tmp_path / "san.ext").write_text("subjectAltName=DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", "ldap.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", "san.ext", "-out", "ldap.pem", cwd=tmp_path)  # fmt: skip
    run("keytool", "-importcert", "-noprompt", "-alias", "ldap-ca", "-file", "ca.pem", "-keystore",
        "truststore.p12", "-storetype", "PKCS12", "-storepass", "changeit",
        "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE", "-J-Dkeystore.pkcs12.macAlgorithm=NONE",
        cwd=tmp_path)  # fmt: skip
    (tmp_path / "Handshake.java").write_text(HANDSHAKE)
    port = free_port()
    server = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            "ldap.pem",
            "-key",
            "ldap.key",
            "-quiet",
        ],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        jvm_options = [o.replace(store_in_pod, str(tmp_path / "truststore.p12")) for o in options]
        handshake = ("Handshake.java", "localhost", str(port))
        trusted = subprocess.run(
            ["java", *jvm_options, *handshake], cwd=tmp_path, capture_output=True, text=True
        )
        assert trusted.returncode == 0 and "trusted CN=localhost" in trusted.stdout, trusted.stderr[-2000:]
        default = subprocess.run(
            ["java", *handshake], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert default.returncode != 0 and "PKIX path building failed" in default.stderr
    finally:
        server.kill()
        server.wait()
