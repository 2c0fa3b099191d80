"""The deployment kit, checked as far as it can be without a cluster: Helm values, Kubernetes objects,
the dbt-spark image's environment, the deploy scripts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from helpers import K8S_VERSION, ROOT

VALUES = ROOT / "helm-values"


def load(name: str):
    return yaml.safe_load((VALUES / name).read_text())


def as_pod(volumes=(), mounts=(), env=()) -> dict:
    """Chart-level lists (volumes, mounts, env) inside a Pod, so that their schema is checked strictly."""
    container = {"name": "c", "image": "i", "volumeMounts": list(mounts), "env": list(env)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [container], "volumes": list(volumes)},
    }


def test_every_values_file_parses():
    for path in VALUES.glob("*.yaml"):
        assert list(yaml.safe_load_all(path.read_text())), path


@pytest.mark.parametrize("name", ["dbt-resources.yaml", "kyuubi-service.yaml"])
def test_extra_manifests_validate_strictly(name):
    docs = list(yaml.safe_load_all((VALUES / name).read_text()))
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_airflow_values_keep_the_first_versions_failures_away():
    values = load("airflow.yaml")
    assert values["executor"] == "KubernetesExecutor" and values["allowPodLaunching"] is True
    # One image setting for every Airflow pod, the task pods' template included (test_helm_airflow.py).
    assert "images" not in values and values["defaultAirflowRepository"] == "airflow-dbt-spark"
    # The chart's own pod template (metadata and Execution API settings): no SQLite in task pods.
    assert "podTemplate" not in values and values.get("enableBuiltInSecretEnvVars") is None
    assert values["jwtSecretName"] and values["apiSecretKeySecretName"]
    # DAGs by git-sync, not a ConfigMap (symlink loops).
    assert values["dags"]["gitSync"]["enabled"] and not values["dags"]["persistence"]["enabled"]
    env = {e["name"]: e["value"] for e in values["env"]}
    assert env["DBT_SPARK_EXECUTION"] == "kubernetes" and env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    (conn,) = [s for s in values["secret"] if s["envName"] == "AIRFLOW_CONN_KYUUBI_DEFAULT"]
    assert conn["secretName"] == "kyuubi-connection"
    api = values["apiServer"]
    kubernetes_validate.validate(
        as_pod(api["extraVolumes"], api["extraVolumeMounts"], values["env"]), K8S_VERSION, strict=True
    )
    # git-sync syncs `ref` alone: the chart's branch and rev emptied (test_helm_airflow.py fetches it).
    git_sync = values["dags"]["gitSync"]
    assert (git_sync["ref"], git_sync["branch"], git_sync["rev"]) == ("main", "", "")


@pytest.mark.parametrize("name", ["airflow.yaml", "airflow-minikube.yaml"])
def test_whatever_parses_dag_files_mounts_the_projects_read_only(name):
    """The DAG processor and the KubernetesExecutor's task pods read each project's manifest from the
    projects volume (never from the git-sync checkout, which holds no target/)."""
    values = load(name)
    env = {e["name"]: e["value"] for e in load("airflow.yaml")["env"]}
    for component in ("dagProcessor", "workers"):
        volumes, mounts = values[component]["extraVolumes"], values[component]["extraVolumeMounts"]
        kubernetes_validate.validate(as_pod(volumes, mounts), K8S_VERSION, strict=True)
        (mount,) = [m for m in mounts if m["name"] == "dbt-projects"]
        assert mount["mountPath"] == env["DBT_SPARK_PROJECTS_DIR"] and mount["readOnly"] is True
        (volume,) = [v for v in volumes if v["name"] == "dbt-projects"]
        if name == "airflow.yaml":
            assert volume["persistentVolumeClaim"] == {"claimName": "dbt-projects", "readOnly": True}
        else:
            assert volume["hostPath"]["path"] == "/opt/dbt/projects"
    if name == "airflow-minikube.yaml":  # the dbt pods take the hostPath preset there
        extra = yaml.safe_load(values["extraEnv"])
        assert {"name": "DBT_SPARK_VOLUMES", "value": "minikube-hostpath"} in extra


def test_kyuubi_values():
    values = load("kyuubi.yaml")
    assert values["server"]["thriftBinary"] == {
        **values["server"]["thriftBinary"],
        "enabled": True,
        "port": 10009,
    }
    # The chart renders every frontend's service port with `tpl`, which takes strings only.
    for name, frontend in values["server"].items():
        port = (frontend.get("service") or {}).get("port")
        assert port is None or isinstance(port, str), f"server.{name}.service.port must be a string"
    assert values["server"]["thriftBinary"]["service"]["port"] == "{{ .Values.server.thriftBinary.port }}"
    kyuubi_conf = values["kyuubiConf"]["files"]["kyuubi-defaults.conf"]
    assert "kyuubi.engine.share.level=USER" in kyuubi_conf
    spark = dict(
        line.split("=", 1)
        for line in values["sparkConf"]["files"]["spark-defaults.conf"].splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    assert spark["spark.sql.catalog.lake.s3.path-style-access"] == "true"
    assert spark["spark.sql.defaultCatalog"] == "lake"
    assert spark["spark.sql.extensions"].endswith("IcebergSparkSessionExtensions")
    # Credentials only from Secrets: no key material in the files, env from secretKeyRef.
    text = (VALUES / "kyuubi.yaml").read_text()
    assert not re.search(r"(secret-access-key|password)\s*=", text, re.I)
    kubernetes_validate.validate(as_pod(env=values["env"]), K8S_VERSION, strict=True)
    assert all("secretKeyRef" in e["valueFrom"] for e in values["env"])
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "r"},
        "rules": values["rbac"]["rules"],
    }
    kubernetes_validate.validate(role, K8S_VERSION, strict=True)


def test_minio_values_keep_credentials_in_a_secret():
    values = load("minio.yaml")
    assert values["existingSecret"] == "minio-credentials" and "rootPassword" not in values
    assert [b["name"] for b in values["buckets"]] == ["warehouse"]


def test_image_requirements_match_pyproject():
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {p for p in pins if p.startswith(("dbt-core", "dbt-spark"))}
    lines = [ln.strip() for ln in (ROOT / "image" / "requirements.txt").read_text().splitlines()]
    assert {ln for ln in lines if ln and not ln.startswith("#")} == wanted


SCRIPTS = [
    "scripts/deploy.sh",
    "scripts/run-sample-tests.sh",
    "scripts/lib.sh",
    *(
        f"tools/cluster/{name}"
        for name in ("up", "down", "exec", "with", "build-kube", "build-images", "lib.sh")
    ),
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse_and_are_shellcheck_clean(script):
    assert subprocess.run(["bash", "-n", script], cwd=ROOT).returncode == 0
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: apt-get install shellcheck (.ci/run does)"
    proc = subprocess.run([shellcheck, "-x", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def dry(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)


def test_deploy_dry_run_prints_the_plan():
    proc = dry("scripts/deploy.sh", "--dry-run", "--kyuubi-chart", "/opt/kyuubi/charts/kyuubi")
    assert proc.returncode == 0, proc.stderr
    steps = [line for line in proc.stdout.splitlines() if line.startswith("+ ")]
    order = [
        next(i for i, s in enumerate(steps) if needle in s)
        for needle in (
            "minikube image build -t dbt-spark:latest image/",
            "dbt-spark-operator manifest analytics",
            "minikube cp dbt/analytics/target/manifest.json /opt/dbt/projects/analytics/target/manifest.json",
            "helm upgrade --install minio minio/minio -n minio -f helm-values/minio.yaml",
            "helm upgrade --install kyuubi-dbt /opt/kyuubi/charts/kyuubi -n kyuubi -f helm-values/kyuubi",
            "helm upgrade --install airflow apache-airflow/airflow -n airflow -f helm-values/airflow.yaml",
            "kubectl -n airflow wait --for=condition=Ready pod -l component=scheduler,release=airflow",
        )
    ]
    assert order == sorted(order)
    assert not any("/target/compiled" in s or ".user.yml" in s for s in steps)
    # Generated secrets go to Kubernetes through a private temp file: never in argv or in this output.
    secrets = [s for s in steps if "create secret" in s]
    assert len(secrets) == 5 and all("--from-env-file=<a 0600 temp file: " in s for s in secrets)
    assert "--from-literal" not in proc.stdout and "rootPassword=" not in proc.stdout


def test_sample_tests_dry_run_triggers_both_dags():
    proc = dry("scripts/run-sample-tests.sh", "--dry-run", "both")
    assert proc.returncode == 0, proc.stderr
    triggered = re.findall(r"airflow dags trigger (\S+)", proc.stdout)
    assert triggered == ["analytics_kubernetes", "sample_dbt_pipeline"]


def test_missing_tools_and_bad_arguments_are_one_clear_line(tmp_path):
    bin_dir = tmp_path / "bin"  # this machine's tools, minus the cluster ones
    bin_dir.mkdir()
    for folder in ("/usr/bin", "/bin"):
        for tool in Path(folder).iterdir():
            if tool.name not in ("kubectl", "helm", "minikube") and not (bin_dir / tool.name).exists():
                (bin_dir / tool.name).symlink_to(tool)
    env = {**os.environ, "PATH": str(bin_dir)}
    proc = dry("scripts/deploy.sh", "--kyuubi-chart", "/k", env=env)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "error: minikube is not installed or not on PATH: install it first (see docs/production.md)"
    )
    proc = dry("scripts/run-sample-tests.sh", "sometimes", env=env)
    assert proc.returncode == 1 and "unknown argument sometimes: use simple, full or both" in proc.stderr
