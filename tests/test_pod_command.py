"""The pod's command really works: a rendered pod's command, args and env run as local processes.

Mounted paths map to local directories (the project volume to dbt/ of this checkout, the emptyDirs to
temporary directories); the process gets the pod's env and nothing else but PATH. No cluster is
involved: this proves the profile-writing step and the dbt argv, not the kubelet.
"""

from __future__ import annotations

import subprocess

import pytest
from airflow.dag_processing.dagbag import DagBag

from conftest import BIN, EXPECTED_SIMPLE_PIPELINE, ROOT, query
from dbt_spark_operator.pod import PROFILES_DIR, PROJECTS_MOUNT, SCRATCH_DIR, render_pod


@pytest.fixture(scope="module")
def kube_dag(airflow_db):
    bag = DagBag(dag_folder=str(ROOT / "dags" / "analytics_kubernetes.py"))
    assert bag.import_errors == {}
    return bag.dags["analytics_kubernetes"]


def run_pod_locally(task, tmp_path, secrets: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    pod = render_pod(task)
    (container,) = pod.spec.containers
    paths = {
        PROJECTS_MOUNT: str(ROOT / "dbt"),
        PROFILES_DIR: str(tmp_path / "profiles"),
        SCRATCH_DIR: str(tmp_path / "scratch"),
    }

    def local(text: str) -> str:
        for mount, path in paths.items():
            text = text.replace(mount, path)
        return text

    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)}
    for var in container.env:
        if var.value_from is not None:  # a Secret reference: what the kubelet would resolve
            ref = var.value_from.secret_key_ref
            env[var.name] = (secrets or {})[f"{ref.name}/{ref.key}"]
        else:
            env[var.name] = local(var.value or "")
    argv = [local(a) for a in container.command + container.args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)


def test_pod_commands_build_the_chain_to_simple_pipeline(engine, kube_dag, tmp_path):
    query("DROP TABLE IF EXISTS simple_pipeline")
    for task_id in (
        "load_raw_employee_events",
        "analytics.employees.seed",
        "analytics.stg_employees.run",
        "analytics.simple_pipeline.run",
        "analytics.simple_pipeline.test",
    ):
        proc = run_pod_locally(kube_dag.task_dict[task_id], tmp_path / task_id)
        assert proc.returncode == 0, (task_id, proc.stdout[-3000:], proc.stderr[-2000:])
    assert query("SELECT * FROM simple_pipeline ORDER BY id") == EXPECTED_SIMPLE_PIPELINE
    # The profile the pod wrote is the one the task rendered: the Kyuubi connection, no secret inside.
    written = (tmp_path / "analytics.simple_pipeline.run" / "profiles" / "profiles.yml").read_text()
    assert "method: thrift" in written and "host: 127.0.0.1" in written
    # dbt wrote its target/ and logs/ to the scratch emptyDir, not into the read-only project volume.
    assert (tmp_path / "analytics.simple_pipeline.run" / "scratch" / "target" / "run_results.json").is_file()
