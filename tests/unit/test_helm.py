"""helm itself on the values: `helm lint` and `helm template` of tests/charts/kyuubi-contract (the
calls Kyuubi's chart makes on the values helm-values/kyuubi.yaml sets; the real charts are served by no
registry reachable here) with helm-values/kyuubi.yaml. A number where the chart's `tpl` wants a string
fails the render, as it does with the real chart."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from conftest import K8S_VERSION, ROOT

CHART = ROOT / "tests" / "charts" / "kyuubi-contract"
VALUES = ROOT / "helm-values" / "kyuubi.yaml"
SECURE = ROOT / "helm-values" / "kyuubi-secure.yaml"


@pytest.fixture(scope="module")
def helm() -> str:
    found = shutil.which("helm")
    assert found, "helm is missing: make tools (go install helm.sh/helm/v3/cmd/helm@v3.17.3)"
    return found


def run(helm: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)


def test_helm_lints_and_renders_the_kyuubi_values(helm):
    lint = run(helm, "lint", str(CHART), "-f", str(VALUES), "--strict")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    proc = run(helm, "template", "kyuubi-dbt", str(CHART), "-f", str(VALUES))
    assert proc.returncode == 0, proc.stderr
    docs = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    services = [doc for doc in docs if doc["kind"] == "Service"]
    assert {s["metadata"]["name"]: s["spec"]["ports"][0]["port"] for s in services} == {
        "kyuubi-dbt-thrift-binary": 10009,
        "kyuubi-dbt-rest": 10099,
    }
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def conf_settings(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))


def test_the_secure_values_take_the_keystore_and_its_password_from_a_secret(helm):
    """kyuubi.yaml plus kyuubi-secure.yaml: LDAP logins and TLS on the thrift port, the keystore mounted
    from the Secret kyuubi-tls, its password expanded by Kubernetes from a secretKeyRef variable."""
    lint = run(helm, "lint", str(CHART), "-f", str(VALUES), "-f", str(SECURE), "--strict")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    proc = run(helm, "template", "kyuubi-dbt", str(CHART), "-f", str(VALUES), "-f", str(SECURE))
    assert proc.returncode == 0, proc.stderr
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(proc.stdout) if doc}
    for doc in docs.values():
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    conf = conf_settings(docs["ConfigMap"]["data"]["kyuubi-defaults.conf"])
    assert conf["kyuubi.authentication"] == "LDAP"
    assert conf["kyuubi.authentication.ldap.url"].startswith("ldaps://")
    assert conf["kyuubi.frontend.thrift.binary.ssl.enabled"] == "true"
    assert "TLSv1.1" in conf["kyuubi.frontend.thrift.binary.ssl.disallowed.protocols"]
    assert not [k for k in conf if "password" in k or "bindpw" in k]  # no secret in the ConfigMap

    pod = docs["StatefulSet"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = container["env"]
    names = [e["name"] for e in env]
    for i, entry in enumerate(env):  # Kubernetes expands $(VAR) only from variables defined before it
        for ref in re.findall(r"\$\((\w+)\)", entry.get("value", "")):
            assert ref in names[:i], f"{entry['name']} refers to {ref}, not defined before it"
    by_name = {e["name"]: e for e in env}
    assert by_name["KYUUBI_KEYSTORE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kyuubi-tls",
        "key": "keystore-password",
    }
    assert by_name["KYUUBI_LDAP_BIND_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kyuubi-ldap",
        "key": "bind-password",
    }
    assert by_name["KYUUBI_JAVA_OPTS"]["value"].split() == [
        "-Dkyuubi.frontend.ssl.keystore.password=$(KYUUBI_KEYSTORE_PASSWORD)",
        "-Dkyuubi.authentication.ldap.bindpw=$(KYUUBI_LDAP_BIND_PASSWORD)",
    ]
    assert conf["kyuubi.authentication.ldap.binddn"].startswith("cn=")
    assert all("valueFrom" in e or "$(" in e["value"] or e["name"] == "KYUUBI_CONF_DIR" for e in env)
    keystore = Path(conf["kyuubi.frontend.ssl.keystore.path"])
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(keystore.parent)]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "kyuubi-tls"
    assert volume["secret"]["items"] == [{"key": keystore.name, "path": keystore.name}]
    assert volume["secret"]["defaultMode"] == 0o400


def test_the_secure_values_keep_every_other_setting_of_the_base_values():
    """Helm replaces kyuubi-defaults.conf and env as a whole: the secure file repeats the base's."""
    base, secure = (yaml.safe_load(p.read_text()) for p in (VALUES, SECURE))
    name = "kyuubi-defaults.conf"
    base_conf = conf_settings(base["kyuubiConf"]["files"][name])
    secure_conf = conf_settings(secure["kyuubiConf"]["files"][name])
    assert {k: v for k, v in base_conf.items() if k != "kyuubi.authentication"} == {
        k: v for k, v in secure_conf.items() if k in base_conf and k != "kyuubi.authentication"
    }
    assert set(base_conf) <= set(secure_conf)
    assert base["env"] == secure["env"][: len(base["env"])]


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
