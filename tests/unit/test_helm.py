"""helm itself on the Kyuubi values: `helm lint` and `helm template` of tests/charts/kyuubi-contract (the
calls Kyuubi 1.11.1's chart makes on the values helm-values/kyuubi*.yaml set; the real charts are served by
no registry reachable here). A number where the chart's `tpl` wants a string fails the render, as it does
with the real chart. The files the kubelet writes from the rendered pod, read as the image's user:
tests/integration/test_rendered_pods.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_objects import helm_binary, leaks, render

from helpers import K8S_VERSION, ROOT

CHART = ROOT / "tests" / "charts" / "kyuubi-contract"
VALUES = ROOT / "helm-values" / "kyuubi.yaml"
SECURE = ROOT / "helm-values" / "kyuubi-secure.yaml"
SECURE_CONF = ROOT / "helm-values" / "kyuubi-secure-defaults.conf"
LDAPS_CA = ROOT / "helm-values" / "kyuubi-ldaps-ca.yaml"


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


def run(helm: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)


def kyuubi(*files: Path) -> dict[str, Any]:
    """The objects helm renders from ``files`` (release kyuubi-dbt, namespace kyuubi), strictly valid, by
    kind (Services and ConfigMaps by name)."""
    docs = render("kyuubi-contract", "kyuubi-dbt", "kyuubi", *files)
    by_kind: dict[str, Any] = {"Service": {}, "ConfigMap": {}}
    for doc in docs:
        # A ConfigMap without files renders `data: null`, which the API server takes as no data.
        kubernetes_validate.validate(
            {k: v for k, v in doc.items() if v is not None}, K8S_VERSION, strict=True
        )
        if doc["kind"] in by_kind:
            by_kind[doc["kind"]][doc["metadata"]["name"]] = doc
        else:
            by_kind[doc["kind"]] = doc
    return by_kind


def server_args(pod: dict[str, Any]) -> dict[str, str]:
    (container,) = pod["containers"]
    return dict(a.removeprefix("--conf ").split("=", 1) for a in container["args"] if a.startswith("--conf "))


def test_helm_lints_and_renders_the_kyuubi_values(helm):
    objects = kyuubi(VALUES)
    ports = {name: s["spec"]["ports"][0]["port"] for name, s in objects["Service"].items()}
    assert ports == {"kyuubi-dbt-thrift-binary": 10009, "kyuubi-dbt-rest": 10099}
    pod = objects["StatefulSet"]["spec"]["template"]["spec"]
    assert server_args(pod)["kyuubi.frontend.protocols"] == "REST,THRIFT_BINARY"  # helm ranges sorted
    assert pod["securityContext"] == {
        "runAsUser": 10009,  # the apache/kyuubi image's user, in group root
        "runAsGroup": 0,
        "runAsNonRoot": True,
        "fsGroup": 10009,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert (
        "kyuubi.engine.share.level=USER" in objects["ConfigMap"]["kyuubi-dbt"]["data"]["kyuubi-defaults.conf"]
    )


def conf_settings(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))


def test_the_secure_values_take_kyuubi_defaults_conf_and_the_keystore_from_secrets(helm):
    """kyuubi.yaml plus kyuubi-secure.yaml: only the thrift binary frontend; kyuubi-defaults.conf (its
    passwords included) only from the Secret kyuubi-conf, the keystore from the Secret kyuubi-tls, both
    group-readable for the pod's fsGroup; no password in the ConfigMap, the environment or the arguments."""
    objects = kyuubi(VALUES, SECURE)
    assert list(objects["Service"]) == ["kyuubi-dbt-thrift-binary"]  # REST: HTTP Basic logins, no TLS
    pod = objects["StatefulSet"]["spec"]["template"]["spec"]
    assert server_args(pod)["kyuubi.frontend.protocols"] == "THRIFT_BINARY"
    assert not objects["ConfigMap"]["kyuubi-dbt"]["data"]  # kyuubi.yaml's file dropped
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    env = {e["name"]: e for e in container["env"]}
    conf_dir = env["KYUUBI_CONF_DIR"]["value"]
    assert volumes[mounts[conf_dir]["name"]]["projected"]["sources"][1] == {
        "secret": {
            "name": "kyuubi-conf",
            "items": [{"key": "kyuubi-defaults.conf", "path": "kyuubi-defaults.conf", "mode": 0o440}],
        }
    }
    conf = conf_settings(SECURE_CONF.read_text())
    assert conf["kyuubi.authentication"] == "LDAP"
    assert conf["kyuubi.authentication.ldap.url"].startswith("ldaps://")
    assert conf["kyuubi.authentication.ldap.binddn"].startswith("cn=")
    assert conf["kyuubi.frontend.thrift.binary.ssl.enabled"] == "true"
    assert "TLSv1.1" in conf["kyuubi.frontend.thrift.binary.ssl.disallowed.protocols"]
    assert conf["kyuubi.frontend.protocols"] == "THRIFT_BINARY"
    assert not [k for k in conf if "password" in k or "bindpw" in k]  # appended in the Secret only
    keystore = Path(conf["kyuubi.frontend.ssl.keystore.path"])
    mount = mounts[str(keystore.parent)]
    assert mount["readOnly"] is True
    assert volumes[mount["name"]]["secret"] == {
        "secretName": "kyuubi-tls",
        "items": [{"key": keystore.name, "path": keystore.name}],
        "defaultMode": 0o440,
    }
    assert leaks([objects["StatefulSet"]]) == []
    assert all("valueFrom" in e or e["name"].endswith("_CONF_DIR") for e in env.values())


def test_the_old_secure_values_put_both_passwords_on_the_command_line():
    """What the secure values once did, caught: KYUUBI_JAVA_OPTS expanding the two Secret variables
    (Kubernetes substitutes the passwords; bin/kyuubi passes them to java as -D arguments)."""
    container = {
        "name": "kyuubi-server",
        "env": [
            {"name": "KYUUBI_KEYSTORE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "t", "key": "p"}}},
            {"name": "KYUUBI_LDAP_BIND_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "l", "key": "b"}}},
            {
                "name": "KYUUBI_JAVA_OPTS",
                "value": "-Dkyuubi.frontend.ssl.keystore.password=$(KYUUBI_KEYSTORE_PASSWORD) "
                "-Dkyuubi.authentication.ldap.bindpw=$(KYUUBI_LDAP_BIND_PASSWORD)",
            },
        ],
    }
    old = {"kind": "StatefulSet", "metadata": {"name": "kyuubi-dbt"}}
    old["spec"] = {"template": {"spec": {"containers": [container]}}}
    assert leaks([old]) == [
        "kyuubi-dbt/kyuubi-server: KYUUBI_JAVA_OPTS expands the Secret variable KYUUBI_KEYSTORE_PASSWORD",
        "kyuubi-dbt/kyuubi-server: KYUUBI_JAVA_OPTS expands the Secret variable KYUUBI_LDAP_BIND_PASSWORD",
    ]


def test_the_secure_conf_keeps_every_other_setting_of_the_base_values():
    """The secure kyuubi-defaults.conf replaces kyuubi.yaml's whole: it repeats its settings."""
    base = conf_settings(yaml.safe_load(VALUES.read_text())["kyuubiConf"]["files"]["kyuubi-defaults.conf"])
    secure = conf_settings(SECURE_CONF.read_text())
    changed = {"kyuubi.authentication", "kyuubi.frontend.protocols"}
    assert {k: v for k, v in base.items() if k not in changed} == {
        k: v for k, v in secure.items() if k in base and k not in changed
    }
    assert set(base) <= set(secure)


def test_the_ldaps_ca_values_point_the_jvm_at_a_passwordless_truststore(helm):
    """kyuubi-ldaps-ca.yaml on top: the truststore from the Secret kyuubi-ldap-ca, the JVM's default trust
    store set to it with no password; Helm replaces lists whole, so env, volumes and mounts repeat the
    files below it."""
    objects = kyuubi(VALUES, SECURE, LDAPS_CA)
    base, secure, ldaps = (yaml.safe_load(p.read_text()) for p in (VALUES, SECURE, LDAPS_CA))
    assert ldaps["env"][: len(base["env"])] == base["env"]
    assert ldaps["volumes"][: len(secure["volumes"])] == secure["volumes"]
    assert ldaps["volumeMounts"][: len(secure["volumeMounts"])] == secure["volumeMounts"]
    pod = objects["StatefulSet"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    opts = {e["name"]: e for e in container["env"]}["KYUUBI_JAVA_OPTS"]["value"].split()
    store = Path(opts[0].removeprefix("-Djavax.net.ssl.trustStore="))
    assert opts == [f"-Djavax.net.ssl.trustStore={store}", "-Djavax.net.ssl.trustStoreType=PKCS12"]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(store.parent)]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "kyuubi-ldap-ca" and volume["secret"]["defaultMode"] == 0o440
    assert leaks([objects["StatefulSet"]]) == []


def leaves(values: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(values, dict) and values:
        return [p for key, value in values.items() for p in leaves(value, (*path, key))]
    return [path]


@pytest.mark.parametrize("name", ["kyuubi.yaml", "kyuubi-secure.yaml", "kyuubi-ldaps-ca.yaml"])
def test_every_key_the_values_set_is_a_key_of_the_chart(name):
    """The contract chart's values.yaml holds Kyuubi 1.11.1's chart defaults for what it reads: a key we
    set must be one of them, down to where the chart takes a free-form map, list or file."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in leaves(yaml.safe_load((ROOT / "helm-values" / name).read_text())):
        node = defaults
        for depth, key in enumerate(path):
            assert isinstance(node, dict) and key in node, f"{'.'.join(path[: depth + 1])} is no chart key"
            node = node[key]
            if not (isinstance(node, dict) and node):
                break


def test_a_number_for_a_templated_port_fails_the_render(helm, tmp_path):
    values = yaml.safe_load(VALUES.read_text())
    values["server"]["thriftBinary"]["service"]["port"] = 10009  # the mistake the values once had
    broken = tmp_path / "kyuubi.yaml"
    broken.write_text(yaml.safe_dump(values))
    proc = run(helm, "template", "kyuubi-dbt", str(CHART), "-f", str(broken))
    assert proc.returncode != 0
    assert "wrong type for value; expected string; got float64" in proc.stderr


def test_helm_is_the_pinned_version(helm):
    """Built by `make tools` from the Go module proxy (go install sets no version string: the module's)."""
    go = shutil.which("go") or "/usr/local/go/bin/go"
    proc = subprocess.run([go, "version", "-m", helm], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^\s+mod\s+helm\.sh/helm/v3\s+v3\.17\.3\s", proc.stdout, re.M), proc.stdout
