"""helm itself on the values: `helm lint` and `helm template` of tests/charts/kyuubi-contract (the
calls Kyuubi's chart makes on the values helm-values/kyuubi.yaml sets; the real charts are served by no
registry reachable here) with helm-values/kyuubi.yaml. A number where the chart's `tpl` wants a string
fails the render, as it does with the real chart."""

from __future__ import annotations

import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from conftest import ROOT

CHART = ROOT / "tests" / "charts" / "kyuubi-contract"
VALUES = ROOT / "helm-values" / "kyuubi.yaml"


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
    services = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    assert {s["metadata"]["name"]: s["spec"]["ports"][0]["port"] for s in services} == {
        "kyuubi-dbt-thrift-binary": 10009,
        "kyuubi-dbt-rest": 10099,
    }
    for service in services:
        kubernetes_validate.validate(service, "1.37.0", strict=True)


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
