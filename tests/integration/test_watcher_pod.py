"""``watcher_kubernetes``: the build pod's command, run as a local process against the local engine, and
the build task's own logic around it.

No Kubernetes API server exists here. ``KubernetesPodOperator.execute`` stands in for the cluster: it
builds the pod through the provider's real ``build_pod_request_obj``, validates it strictly, runs its
container's command, args and env as a local process (:func:`run_locally`) and hands every line of its
output to the operator's ``callbacks`` as the provider's pod manager hands a pod's log lines to them
(``progress_callback``); a non-zero exit raises, as the provider does for a failed pod. What this proves:
the build pod works, its log carries every node's result, and the build task publishes them and decides
success and failure as documented. The mirror tasks are watcher execution's
(tests/integration/test_watcher_contract.py runs them on a real Airflow).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from airflow.exceptions import AirflowException
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk import DAG

from dbt_spark_operator import dbt_task_group
from dbt_spark_operator.dev.engine import EngineStatus
from dbt_spark_operator.project.paths import write_manifest
from dbt_spark_operator.runtime.local_process import run_locally
from dbt_spark_operator.runtime.rendered_pod import pod_body, task_context
from dbt_spark_operator.watcher.build import BUILD_KEY
from dbt_spark_operator.watcher.pod import DbtBuildPodProducer
from helpers import K8S_VERSION, ROOT, engine_sql, give_watched_input, kyuubi_connection

WATCHED = ROOT / "tests" / "dbt_projects" / "watched"


class BuildTI:
    """The build task's instance: its try, the node tasks' states, what it pushes to XCom."""

    def __init__(self, try_number: int = 1, states: dict[str, str] | None = None) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = "wk", "watched.dbt_build", "r1", -1
        self.try_number = try_number
        self.states = states or {}
        self.pushed: list[dict[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        assert key == BUILD_KEY
        self.pushed.append(json.loads(json.dumps(value)))  # what XCom keeps: JSON

    def get_task_states(self, dag_id: str, task_ids: list[str], run_ids: list[str]) -> dict[str, Any]:
        return {self.run_id: {t: self.states.get(t) for t in task_ids}}


@pytest.fixture(scope="module")
def watched_dag(engine: EngineStatus) -> DAG:
    write_manifest(WATCHED)
    with DAG("wk", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group(WATCHED, execution="watcher_kubernetes", profile_args={"schema": "watched"})
    return dag


@pytest.fixture(scope="module")
def build_task(watched_dag: DAG) -> DbtBuildPodProducer:
    task = watched_dag.task_dict["watched.dbt_build"]
    assert isinstance(task, DbtBuildPodProducer)
    return task


@pytest.fixture
def pods_run_locally(engine: EngineStatus, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict]:
    """KubernetesPodOperator.execute as this module's docstring says; the pods it ran, as request bodies."""
    monkeypatch.setenv(
        *kyuubi_connection(host=engine.host, port=engine.port, login="admin", schema="watched")
    )
    ran: list[dict] = []

    def execute(self: Any, context: Any) -> None:
        pod = self.build_pod_request_obj(context, dry_run=True)
        body = pod_body(pod)
        kubernetes_validate.validate(body, K8S_VERSION, strict=True)
        ran.append(body)

        def on_line(line: str) -> None:
            print(line)  # the provider logs each line of the pod's log
            for callback in self.callbacks:
                callback.progress_callback(
                    line=line, client=None, mode="sync", container_name="base", timestamp=None, pod=pod
                )

        workdir = tmp_path / f"pod{len(ran)}"
        workdir.mkdir()
        # What the kubelet would put in the env from the Secret.
        secret = self.dbt_setup.read_connection(check_endpoint=False).secret_env
        rc, _ = run_locally(pod, workdir, secret, on_line, project=self.dbt_setup.path)
        if rc:
            raise AirflowException(f"Pod {pod.metadata.name} returned a failure: exit code {rc}")

    monkeypatch.setattr(KubernetesPodOperator, "execute", execute)
    return ran


def run_build(task: DbtBuildPodProducer, ti: BuildTI) -> Any:
    """The build task as a worker runs it: templates rendered, its pre_execute hook (the connection read
    and checked), execute."""
    task = copy.deepcopy(task)
    context = {**task_context(task), "ti": ti, "task_instance": ti}
    task.render_template_fields(context)
    task.dbt_setup.at_run(context)
    return task.execute(context)


def test_the_build_pod_publishes_every_node_s_result_from_its_log(
    watched_dag, build_task, pods_run_locally, engine
):
    give_watched_input(engine)
    ti = BuildTI()
    run_build(build_task, ti)
    (pod,) = pods_run_locally
    args = pod["spec"]["containers"][0]["args"]
    assert args[:4] == ["dbt", "build", "--log-format", "json"], args
    assert [c["name"] for c in pod["spec"]["containers"]] == ["base"]  # results come from the log
    assert pod["metadata"]["labels"]["dbt-resource-type"] == "build"
    first, last = ti.pushed[0], ti.pushed[-1]
    assert first == {"id": last["id"], "results": {}}  # the build's id before any result
    results = last["results"]
    mirrored = {
        t.start_trigger_args.trigger_kwargs["unique_id"] for t in watched_dag.tasks if t.start_from_trigger
    }
    assert set(results) == mirrored and len(mirrored) == 9  # the seed, four models, a test of each model
    assert {r["status"] for r in results.values()} <= {"success", "pass"}
    model = results["model.watched.watched_events"]
    assert model["relation_name"] == "watched.watched_events" and model["invocation_id"]
    assert model["execution_time"] > 0
    assert engine_sql(engine, "SELECT events, total FROM watched.watched_report") == [(5, 30)]


def test_a_failing_model_fails_only_its_node_and_dbt_s_own_error_fails_the_build(
    build_task, pods_run_locally, engine
):
    engine_sql(engine, "DROP TABLE watched.watched_input")
    ti = BuildTI()
    run_build(build_task, ti)  # the pod exits 1, dbt ran every node it could: the build succeeds
    results = ti.pushed[-1]["results"]
    assert results["model.watched.watched_events"]["status"] == "error"
    assert results["model.watched.watched_report"]["status"] == "skipped"  # its task runs it itself
    assert results["model.watched.watched_tripled"]["status"] == "success"

    broken = copy.deepcopy(build_task)
    broken.dbt_cmd_flags = ["--vars", "{not yaml"]  # dbt's own error (exit 2): no "Done." line
    with pytest.raises(AirflowException, match="exit code 2"):
        run_build(broken, BuildTI())


def test_a_cleared_build_rebuilds_only_the_nodes_whose_tasks_did_not_succeed(
    build_task, pods_run_locally, engine
):
    give_watched_input(engine)
    not_done = {"watched.watched_events.run", "watched.watched_report.run"}
    states = {t: ("failed" if t in not_done else "success") for t in build_task.node_tasks}
    ti = BuildTI(try_number=2, states=states)
    run_build(build_task, ti)
    (pod,) = pods_run_locally
    args = pod["spec"]["containers"][0]["args"]
    assert args[args.index("--select") + 1].split() == [
        "fqn:watched.watched_events",
        "fqn:watched.watched_report",
    ]
    assert set(ti.pushed[-1]["results"]) == {"model.watched.watched_events", "model.watched.watched_report"}
    everything_done = BuildTI(try_number=2, states=dict.fromkeys(build_task.node_tasks, "success"))
    run_build(build_task, everything_done)
    assert len(pods_run_locally) == 1  # nothing to build: no pod
    assert everything_done.pushed[-1]["results"] == {}
