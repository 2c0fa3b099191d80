"""The pod's command really works: a rendered pod's command, args and env run as local processes.

Mounted paths map to local directories (the project volume to dbt/ of this checkout, the shared state
volume to the session's state directory, the emptyDirs to temporary directories); the process gets the
pod's env and nothing else but PATH and HOME. No cluster is involved: this proves the profile-writing
step, the dbt argv and the packages the deps pod leaves for the others, not the kubelet.
"""

from __future__ import annotations

import json
import shutil

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.execution_time.context import OutletEventAccessors

from dbt_spark_operator.graph.assets import AssetEventsAtEnd
from dbt_spark_operator.project.paths import state_dir
from dbt_spark_operator.runtime.local_process import run_locally
from dbt_spark_operator.runtime.rendered_pod import render_pod
from helpers import EXPECTED_SIMPLE_PIPELINE, ROOT, query


@pytest.fixture(scope="module")
def kube_dag(airflow_db):
    bag = DagBag(dag_folder=str(ROOT / "dags" / "analytics_kubernetes.py"))
    assert bag.import_errors == {}
    return bag.dags["analytics_kubernetes"]


def run_pod(task, tmp_path):
    lines: list[str] = []
    rc, env = run_locally(render_pod(task), tmp_path, secrets={}, on_line=lines.append)
    return rc, env, "\n".join(lines)


def test_pod_commands_build_the_chain_to_simple_pipeline(engine, kube_dag, tmp_path):
    query("DROP TABLE IF EXISTS simple_pipeline")
    shutil.rmtree(state_dir() / "packages", ignore_errors=True)  # the deps pod must install them
    chain = [
        "dbt_deps",
        "load_raw_employee_events",
        "analytics.employees.seed",
        "analytics.stg_employees.run",
        "analytics.simple_pipeline.run",
        "analytics.simple_pipeline.not_null_simple_pipeline_id",
    ]
    for task_id in chain:
        task = kube_dag.task_dict[task_id]
        (tmp_path / task_id).mkdir()
        rc, env, output = run_pod(task, tmp_path / task_id)
        assert rc == 0, (task_id, output[-4000:])
        pod_env = {e.name for e in render_pod(task).spec.containers[0].env}  # [0]: "base"
        assert set(env) - {"PATH", "HOME"} <= pod_env  # nothing but the pod's env
    assert query("SELECT * FROM simple_pipeline ORDER BY id") == EXPECTED_SIMPLE_PIPELINE
    # The deps pod installed the shared package where the model pods found it (simple_pipeline uses it).
    assert (state_dir() / "packages" / "analytics" / "shared_macros" / "dbt_project.yml").is_file()
    # The profile the pod wrote is the one the task rendered: the Kyuubi connection, no secret inside.
    written = (tmp_path / "analytics.simple_pipeline.run" / "profiles" / "profiles.yml").read_text()
    assert "method: thrift" in written and "host: 127.0.0.1" in written
    # dbt wrote its target/ and logs/ to the scratch emptyDir, not into the read-only project volume.
    assert (
        tmp_path / "analytics.simple_pipeline.run" / "scratch" / "dbt" / "target" / "run_results.json"
    ).is_file()
    # The model's pod hands run_results.json to the XCom sidecar (a test's pod has no sidecar): the
    # task's end hook puts what dbt reported on the model's asset event.
    assert not (tmp_path / "analytics.simple_pipeline.not_null_simple_pipeline_id" / "xcom").exists()
    model = kube_dag.task_dict["analytics.simple_pipeline.run"]
    returned = json.loads((tmp_path / model.task_id / "xcom" / "return.json").read_text())
    model.dbt_pod_result = returned  # what extract_xcom keeps in a cluster (CosmosPodTask)
    events = OutletEventAccessors()
    AssetEventsAtEnd()({"task": model, "outlet_events": events})
    (asset,) = model.outlets
    assert asset.uri == "kyuubi://kyuubi_default/default/simple_pipeline"
    extra = events[asset].extra
    assert extra["relation"] == "default.simple_pipeline" and extra["status"] == "success"
    assert extra["dbt_unique_id"] == "model.analytics.simple_pipeline" and extra["dbt_invocation_id"]
