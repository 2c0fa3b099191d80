"""helm on this repository's contract charts (tests/charts) and what the tests read from what it renders:
the pods every object makes, their containers, where a password would leak into a command line or a plain
environment value."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from helpers import ROOT

CHARTS = ROOT / "tests" / "charts"
VALUES = ROOT / "helm-values"


def helm_binary() -> str:
    found = shutil.which("helm")
    assert found, "helm is missing: make tools (go install helm.sh/helm/v3/cmd/helm@v3.17.3)"
    return found


def render(
    chart: str, release: str, namespace: str, *files: Path, sets: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """`helm lint --strict` then `helm template` of tests/charts/<chart> with ``files`` (and ``--set``
    ``sets``): every object; a pod template file in a ConfigMap (pod_template_file.yaml) as one more."""
    helm = helm_binary()
    args = [f for path in files for f in ("-f", str(path))] + [s for kv in sets for s in ("--set", kv)]
    lint = subprocess.run(
        [helm, "lint", str(CHARTS / chart), "--strict", *args], capture_output=True, text=True, timeout=120
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    proc = subprocess.run(
        [helm, "template", release, str(CHARTS / chart), "-n", namespace, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    docs = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
    for doc in list(docs):
        if doc["kind"] == "ConfigMap" and "pod_template_file.yaml" in (doc.get("data") or {}):
            docs.append(yaml.safe_load(doc["data"]["pod_template_file.yaml"]))
    return docs


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod the objects make, by name: Deployments, StatefulSets and Jobs by their template, a
    KubernetesExecutor pod template (a Pod) as ``pod-template``."""
    specs = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            specs[doc["metadata"]["name"]] = doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            specs["pod-template"] = doc["spec"]
    return specs


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


SECRET_ARGUMENT = re.compile(r"(^-p$|^--password$|password[=:]|bindpw=|secret-key[=:])", re.I)
# A variable that holds a secret itself (AIRFLOW__KUBERNETES_SECRETS__<name> holds "<Secret>=<key>").
SECRET_NAME = re.compile(r"^(?!AIRFLOW__KUBERNETES_SECRETS__).*(PASSWORD|_SECRET|SECRET_KEY|_KEY)$")


def leaks(docs: list[dict[str, Any]]) -> list[str]:
    """Where a rendered container would hold a password in its command line or a plain environment value:
    an argument that is a password flag or a `password=` setting (and the value after it), a secret-named
    variable with a plain value, or a value that expands ($(VAR)) a variable Kubernetes takes from a
    Secret: Kubernetes substitutes it, so the password itself is then in that value (and in the command
    line of whatever passes it on)."""
    found = []
    for name, spec in pod_specs(docs).items():
        for container in containers(spec):
            where = f"{name}/{container['name']}"
            words = [*container.get("command", []), *container.get("args", [])]
            for i, word in enumerate(words):
                if SECRET_ARGUMENT.search(word):
                    found.append(f"{where}: argument {word!r} {words[i + 1 : i + 2]}")
            env = container.get("env", [])
            from_secrets = {e["name"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}
            for entry in env:
                for ref in re.findall(r"\$\((\w+)\)", entry.get("value", "")):
                    if ref in from_secrets:
                        found.append(f"{where}: {entry['name']} expands the Secret variable {ref}")
                if SECRET_NAME.search(entry["name"]) and "value" in entry:
                    found.append(f"{where}: {entry['name']} is a plain value")
    return found
