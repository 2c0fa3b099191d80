"""Watcher execution without Airflow services: the graph it renders, the decisions of a node's trigger
for every state of the build, and the results the build publishes.
tests/integration/test_watcher_contract.py runs it on a real Airflow."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent, TriggerEvent

from dbt_spark_operator import dbt_task_group
from dbt_spark_operator.graph.dbt_task import DbtTask
from dbt_spark_operator.watcher import build as w
from dbt_spark_operator.watcher import mirror as m


class FakeTI:
    """A trigger's task instance: the build's state and XCom, and this task's own XCom."""

    def __init__(
        self, build_state: str | None, build: dict[str, Any] | None, mirrored: Any = None, try_number: int = 1
    ):
        # A run id of its own: the build view caches per run (an id() may be reused once freed).
        self.dag_id, self.run_id, self.task_id, self.map_index = "d", f"r{uuid.uuid4()}", "g.m.run", -1
        self.try_number = try_number
        self.build_state, self.build, self.own = build_state, build, {w.MIRROR_KEY: mirrored}

    def get_task_states(self, dag_id: str, task_ids: list[str], run_ids: list[str]) -> dict[str, Any]:
        return {self.run_id: {task_ids[0]: self.build_state}}


@pytest.fixture(autouse=True)
def fake_xcom(monkeypatch):
    """The trigger's XCom reads and writes go to the fake task instance."""

    def get(ti: FakeTI, task_id: str, key: str) -> Any:
        return ti.own.get(key) if task_id == ti.task_id else ti.build

    def put(ti: FakeTI, key: str, value: Any) -> None:
        ti.own[key] = value

    monkeypatch.setattr(m.compat, "trigger_xcom_get", get)
    monkeypatch.setattr(m.compat, "trigger_xcom_set", put)
    monkeypatch.setattr(w, "POKE_SECONDS", 0.05)


def first_event(ti: FakeTI, emits_asset: bool = False) -> TriggerEvent:
    trigger = m.NodeTrigger("model.p.m", "g.dbt_build", emits_asset=emits_asset)
    trigger.task_instance = ti

    async def run() -> TriggerEvent:
        async for event in trigger.run():
            return event
        raise AssertionError("no event")

    return asyncio.run(asyncio.wait_for(run(), 10))


def build(status: str, build_id: str = "b1") -> dict[str, Any]:
    return {
        "id": build_id,
        "results": {"model.p.m": {"unique_id": "model.p.m", "status": status, "execution_time": 1.5}},
    }


@pytest.mark.parametrize("status", ["success", "pass", "warn", "no-op"])
def test_a_success_in_the_build_ends_the_task_in_the_triggerer_and_is_remembered(status):
    ti = FakeTI("running", build(status))
    assert isinstance(first_event(ti), TaskSuccessEvent)
    assert ti.own[w.MIRROR_KEY] == {"build": "b1", "try": 1}


def test_a_success_with_an_asset_resumes_in_a_worker_with_dbt_s_figures():
    event = first_event(FakeTI("running", build("success")), emits_asset=True)
    assert event.payload == {"action": "mirrored", "result": build("success")["results"]["model.p.m"]}


@pytest.mark.parametrize("status", ["error", "fail"])
def test_a_failure_in_the_build_fails_the_task(status):
    ti = FakeTI("success", build(status))
    assert isinstance(first_event(ti), TaskFailedEvent)
    assert ti.own[w.MIRROR_KEY] == {"build": "b1", "try": 1}


def test_a_retry_after_mirroring_runs_the_node_once_the_build_is_over():
    mirrored = {"build": "b1", "try": 1}
    assert first_event(FakeTI("success", build("error"), mirrored, try_number=2)).payload == {"action": "run"}


def test_a_retry_waits_while_the_build_may_still_bring_a_new_result():
    """Cleared with the whole run: the build task is queued again, its XCom still the old build's."""
    ti = FakeTI(None, build("success"), {"build": "b1", "try": 1}, try_number=2)
    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(_drain(ti), 0.5))
    ti.build_state, ti.build = "running", build("success", "b2")  # the new build reports
    assert isinstance(first_event(ti), TaskSuccessEvent)
    assert ti.own[w.MIRROR_KEY] == {"build": "b2", "try": 2}


async def _drain(ti: FakeTI) -> None:
    trigger = m.NodeTrigger("model.p.m", "g.dbt_build")
    trigger.task_instance = ti
    async for _ in trigger.run():
        return


def test_a_node_the_build_skipped_or_never_reached_is_run_by_its_task():
    assert first_event(FakeTI("running", build("skipped"))).payload == {"action": "run"}
    assert first_event(FakeTI("failed", {"id": "b1", "results": {}})).payload == {"action": "run"}


def test_the_same_try_seen_again_mirrors_again():
    """A triggerer restarted after the trigger mirrored: the same try ends the same way."""
    ti = FakeTI("success", build("success"), {"build": "b1", "try": 1})
    assert isinstance(first_event(ti), TaskSuccessEvent)


def test_the_publisher_pushes_each_finished_node_once_more_at_the_end(caplog):
    pushed: list[dict[str, Any]] = []
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.append(value))
    publisher = w.ResultPublisher(ti, "b1", interval=0.05)
    publisher.on_event(SimpleNamespace(info=SimpleNamespace(name="MainReportVersion")))
    publisher.on_event(_node_finished("model.p.a", "success", rows=5))
    publisher.on_event(_node_finished("model.p.b", "error"))
    results = publisher.close()
    assert pushed[0] == {"id": "b1", "results": {}}
    assert pushed[-1] == {"id": "b1", "results": results}
    assert results["model.p.a"]["adapter_response"] == {"rows_affected": 5}
    assert results["model.p.a"]["relation_name"] == "`s`.`a`"
    publisher.log_failed()
    assert "1 nodes failed, each in its own task: model.p.b" in caplog.text


def _node_finished(unique_id: str, status: str, rows: int | None = None) -> Any:
    from dbt.events import core_types_pb2 as pb
    from google.protobuf.struct_pb2 import Struct

    response = Struct()
    if rows is not None:
        response.update({"rows_affected": rows})
    data = pb.NodeFinished(
        node_info=pb.NodeInfo(
            unique_id=unique_id, node_relation=pb.NodeRelation(relation_name=f"`s`.`{unique_id[-1]}`")
        ),
        run_result=pb.RunResultMsg(status=status, execution_time=1.0, adapter_response=response),
    )
    return SimpleNamespace(info=SimpleNamespace(name="NodeFinished", invocation_id="inv"), data=data)


def test_the_group_has_one_build_and_every_node_task_starts_in_the_triggerer():
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("w", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group("analytics", execution="watcher")
    build_task = dag.task_dict["analytics.dbt_build"]
    assert isinstance(build_task, w.DbtBuildProducer) and build_task.retries == 0
    assert not build_task.upstream_task_ids and not build_task.downstream_task_ids
    mirrors = {t.task_id for t in dag.tasks if t.start_from_trigger}
    assert set(build_task.node_tasks) == mirrors
    assert "analytics.raw_employee_events.source" not in mirrors  # freshness runs as in local execution
    assert "analytics.simple_pipeline.run" in mirrors and "analytics.employees.seed" in mirrors
    assert len(mirrors) == len(dag.tasks) - 2
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    model = restored.get_task("analytics.simple_pipeline.run")
    assert model.start_from_trigger and model.start_trigger_args.next_method == "resume_from_build"
    assert type(dag.task_dict["analytics.simple_pipeline.run"]).__name__ == "DbtRunMirror"


@pytest.mark.parametrize("state", [None, "scheduled", "queued"])
def test_an_earlier_build_s_results_are_not_mirrored_before_the_new_build_runs(state):
    """The whole run cleared: the build task waits to run again, its XCom still the earlier try's."""
    ti = FakeTI(state, build("success"), None, try_number=2)
    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(_drain(ti), 0.5))
    assert ti.own[w.MIRROR_KEY] is None


class _RunsItsNode:
    """A node's task: it runs its node; its connection is read before (counted)."""

    def __init__(self) -> None:
        self.connections_read = 0
        self.dbt_setup = SimpleNamespace(apply_connection=self._read_connection)

    def _read_connection(self, task: Any) -> None:
        assert task is self
        self.connections_read += 1

    def execute(self, context: Any) -> str:
        assert self.connections_read, "dbt ran before the connection was read"
        return "ran the node"


class _RunsItsNodeMirror(m.MirrorMixin, _RunsItsNode):
    """A mirror of that node's task, as watcher/mirror.py and watcher/pod.py define them."""


def _mirror(build: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
    from airflow.triggers.base import StartTriggerArgs

    task = _RunsItsNodeMirror()
    task.start_trigger_args = StartTriggerArgs(
        trigger_cls="x",
        next_method="resume_from_build",
        trigger_kwargs={"unique_id": "model.p.m", "build_task_id": "g.dbt_build"},
    )
    ti = SimpleNamespace(
        xcom_pull=lambda task_ids, key: build if (task_ids, key) == ("g.dbt_build", w.BUILD_KEY) else None
    )
    return task, {"ti": ti}


def test_run_directly_as_airflow_dags_test_does_a_node_task_takes_the_build_s_success_or_runs_its_node():
    task, context = _mirror(build("success"))
    assert task.execute(context) is None
    assert task.dbt_pod_result == {
        "metadata": {"invocation_id": None},
        "results": [{"unique_id": "model.p.m", "status": "success", "execution_time": 1.5}],
    }
    for earlier in (None, build("error"), build("skipped")):
        task, context = _mirror(earlier)
        assert task.execute(context) == "ran the node"


def test_resumed_after_the_trigger_a_node_task_records_the_result_or_runs_its_node():
    task, context = _mirror(None)
    result = {"unique_id": "model.p.m", "status": "success", "invocation_id": "inv"}
    assert task.resume_from_build(context, {"action": "mirrored", "result": result}) is None
    assert task.dbt_pod_result["metadata"] == {"invocation_id": "inv"}
    assert task.connections_read == 0  # an asset event needs no connection: no handshake per model
    assert task.resume_from_build(context, {"action": "run"}) == "ran the node"
    assert task.connections_read == 1


def test_an_operator_given_watcher_execution_runs_its_command_locally(monkeypatch):
    from dbt_spark_operator.execution import Execution, Runtime

    assert (
        Execution.parse("watcher").runtime is Runtime.LOCAL and Execution.parse("watcher").name == "watcher"
    )
    monkeypatch.setenv("DBT_SPARK_EXECUTION", "watcher")
    assert Execution.parse(None).runtime is Runtime.LOCAL and Execution.parse(None).name == "watcher"
    assert Execution.parse("watcher_kubernetes").runtime is Runtime.KUBERNETES


def _log_line(name: str, data: dict[str, Any]) -> str:
    """One line of dbt's JSON log (``--log-format json``), as the build pod writes it."""
    import json

    return json.dumps(
        {"info": {"name": name, "invocation_id": "inv", "level": "info", "msg": "..."}, "data": data}
    )


def _node_info(unique_id: str, status: str, relation: str = "") -> dict[str, Any]:
    return {
        "unique_id": unique_id,
        "node_status": status,
        "node_relation": {"relation_name": relation, "schema": "s", "alias": unique_id.rsplit(".", 1)[-1]},
    }


def test_the_publisher_reads_each_node_s_end_from_dbt_s_json_log():
    """What dbt 1.11 logs at info level for a failing model, a model, a skipped model and a failing test
    (tests/integration/test_watcher_pod.py reads a real build pod's log)."""
    pushed: list[dict[str, Any]] = []
    publisher = w.ResultPublisher(SimpleNamespace(xcom_push=lambda key, value: pushed.append(value)), "b1")
    lines = [
        "dbt-spark-pod: not JSON",
        _log_line("LogStartLine", {"node_info": _node_info("model.p.bad", "started")}),
        _log_line("LogModelResult", {"execution_time": 0.1, "node_info": _node_info("model.p.bad", "error")}),
        _log_line(
            "LogModelResult",
            {
                "execution_time": 0.2,
                "status": "OK",
                "node_info": _node_info("model.p.good", "success", "s.good"),
            },
        ),
        _log_line("SkippingDetails", {"node_info": _node_info("model.p.down", "skipped")}),
        _log_line("LogTestResult", {"execution_time": 0.3, "node_info": _node_info("test.p.t.1", "fail")}),
        _log_line("RunResultError", {"node_info": _node_info("model.p.bad", "")}),
    ]
    for line in lines:
        publisher.on_log_line(line)
    assert not publisher.dbt_ran
    publisher.on_log_line(_log_line("StatsLine", {"stats": {"error": 2, "pass": 1, "skip": 1}}))
    assert publisher.dbt_ran
    results = publisher.close()
    assert {u: r["status"] for u, r in results.items()} == {
        "model.p.bad": "error",
        "model.p.good": "success",
        "model.p.down": "skipped",
        "test.p.t.1": "fail",
    }
    assert results["model.p.good"] == {
        "unique_id": "model.p.good",
        "status": "success",
        "execution_time": 0.2,
        "invocation_id": "inv",
        "relation_name": "s.good",
    }
    assert pushed[-1] == {"id": "b1", "results": results}


def test_the_build_log_reader_reads_only_the_dbt_container():
    from dbt_spark_operator.watcher.pod import BuildLogReader

    seen: list[str] = []
    reader = BuildLogReader(SimpleNamespace(on_log_line=seen.append))  # type: ignore[arg-type]
    reader.progress_callback(
        line=" a \n", client=None, mode="sync", container_name="base", timestamp=None, pod=None
    )
    reader.progress_callback(
        line="b", client=None, mode="sync", container_name="airflow-xcom-sidecar", timestamp=None, pod=None
    )
    assert seen == ["a"]


def test_watcher_kubernetes_builds_in_a_pod_and_its_node_tasks_run_their_node_in_their_pod():
    from airflow.serialization.serialized_objects import DagSerialization

    from dbt_spark_operator.watcher.pod import DbtBuildPodProducer

    with DAG("wk", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group("analytics", execution="watcher_kubernetes")
    build_task = dag.task_dict["analytics.dbt_build"]
    assert isinstance(build_task, DbtBuildPodProducer) and build_task.retries == 0
    assert build_task.log_format == "json" and build_task.image_pull_policy == "Never"
    assert build_task.labels["dbt-resource-type"] == "build"
    mirrors = [t for t in dag.tasks if t.start_from_trigger]
    assert {t.task_id for t in mirrors} == set(build_task.node_tasks)
    assert {type(t).__name__ for t in mirrors} == {
        "DbtSeedKubernetesMirror",
        "DbtRunKubernetesMirror",
        "DbtTestKubernetesMirror",
        "DbtSnapshotKubernetesMirror",
    }
    assert all(hasattr(t, "build_pod_request_obj") for t in mirrors)  # their own run is a pod
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert (
        restored.get_task("analytics.simple_pipeline.run").start_trigger_args.next_method
        == "resume_from_build"
    )


def test_a_node_task_reads_the_connection_only_when_it_runs_dbt_and_the_user_s_hook_still_runs():
    from dbt_spark_operator.project.setup import ConnectionAtRun

    calls: list[str] = []
    setup = SimpleNamespace(apply_connection=lambda t: calls.append("connection"))
    task = _RunsItsNodeMirror()
    task.dbt_setup = setup
    ConnectionAtRun(then=lambda context: calls.append("user hook"))({"task": task})
    assert calls == ["user hook"]
    other = DbtTask()  # any other dbt task
    other.dbt_setup = setup
    ConnectionAtRun()({"task": other})
    assert calls == ["user hook", "connection"]


# --- dbt's events as node results: one converter for the runner's messages and the JSON log's lines ----


def _dbt_fires(unique_id: str, status: str, seconds: float, rows: int | None = None) -> list[Any]:
    """The messages dbt fires when it is done with a node, in order: its info-level result event, then
    the debug-level ``NodeFinished`` with the adapter's response (dbt/task/base.py, runnable.py)."""
    from dbt.events import types
    from dbt_common.events.base_types import EventLevel, msg_from_base_event

    resource_type = unique_id.split(".", 1)[0]
    node_info = {
        "node_path": f"{unique_id}.sql",
        "node_name": unique_id.rsplit(".", 1)[-1],
        "unique_id": unique_id,
        "resource_type": resource_type,
        "materialized": "table" if resource_type == "model" else "test",
        "node_status": status,  # dbt sets it to the result's status before the result event
        "node_started_at": "2025-01-01T00:00:00",
        "node_finished_at": "2025-01-01T00:00:01",
        "meta": {},
        "node_relation": {
            "database": "",
            "schema": "s",
            "alias": unique_id.rsplit(".", 1)[-1],
            "relation_name": _relation(unique_id) or "",  # a test's: none
        },
        "node_checksum": "c",
    }
    if status == "skipped":
        result_event: Any = types.SkippingDetails(
            resource_type=resource_type, schema="s", node_name="n", index=1, total=5, node_info=node_info
        )
    elif resource_type == "model":
        result_event = types.LogModelResult(
            description="table model",
            status=status,
            index=1,
            total=5,
            execution_time=seconds,
            node_info=node_info,
        )
    else:
        result_event = types.LogTestResult(
            name="t", status=status, index=1, num_models=5, execution_time=seconds, node_info=node_info
        )
    response: dict[str, Any] = {"_message": "OK"}
    if rows is not None:
        response["rows_affected"] = rows
    finished = types.NodeFinished(
        node_info=node_info,
        run_result={
            "status": status,
            "message": "OK",
            "execution_time": seconds,
            "adapter_response": response,
            "timing_info": [],
            "thread": "Thread-1",
            "num_failures": 0,
        },
    )
    return [msg_from_base_event(result_event, EventLevel.INFO), msg_from_base_event(finished)]


def _relation(unique_id: str) -> str | None:
    return f"`s`.`{unique_id.rsplit('.', 1)[-1]}`" if unique_id.startswith("model.") else None


NODES = [  # unique id, status dbt gives it, seconds, rows affected
    ("model.p.good", "success", 0.25, 5),
    ("model.p.bad", "error", 0.5, None),
    ("model.p.down", "skipped", 0.0, None),
    ("test.p.not_null.1", "fail", 0.75, None),
    ("test.p.unique.2", "warn", 0.125, None),
]


def test_a_node_s_result_is_the_same_from_dbt_s_runner_and_from_its_json_log():
    """Each node's messages as a dbt runner callback gets them and as dbt's JSON logger writes them
    (msg_to_json): the same NodeResult; at info level the log has no NodeFinished, so no rows affected."""
    from dataclasses import replace

    from dbt_common.events.functions import msg_to_json

    from dbt_spark_operator.results import NodeStatus
    from dbt_spark_operator.watcher.events import NodeResult, from_json_log_line, from_runner_event

    for unique_id, status, seconds, rows in NODES:
        result_event, finished = _dbt_fires(unique_id, status, seconds, rows)
        expected = NodeResult(
            unique_id=unique_id,
            status=NodeStatus(status),
            execution_time=seconds,
            invocation_id=finished.info.invocation_id,
            relation_name=_relation(unique_id),
            rows_affected=rows,
        )
        assert from_runner_event(finished) == expected
        assert from_runner_event(result_event) is None  # NodeFinished follows it, with the rows affected
        assert from_json_log_line(msg_to_json(finished)) == expected  # debug level
        assert from_json_log_line(msg_to_json(result_event)) == replace(expected, rows_affected=None)


def test_the_json_log_s_end_of_run_and_other_lines():
    from dbt.events import types
    from dbt_common.events.base_types import msg_from_base_event
    from dbt_common.events.functions import msg_to_json

    from dbt_spark_operator.watcher.events import RunEnded, from_json_log_line, from_runner_event

    stats = {"pass": 1, "warn": 0, "error": 1, "skip": 1, "noop": 0, "total": 3}
    done = msg_from_base_event(types.StatsLine(stats=stats))
    assert from_json_log_line(msg_to_json(done)) == RunEnded()
    assert from_runner_event(done) is None  # the worker reads dbt's end from its runner's result
    started = msg_from_base_event(
        types.NodeStart(node_info={"unique_id": "model.p.m", "node_status": "started"})
    )
    for line in (msg_to_json(started), "dbt-spark-pod: not JSON", "[1, 2]", '{"info": "x"}'):
        assert from_json_log_line(line) is None, line


def test_the_publisher_publishes_what_the_runner_reports_as_the_json_log_would():
    from dbt_common.events.functions import msg_to_json

    pushed: dict[str, list[dict[str, Any]]] = {"runner": [], "log": []}
    runner = w.ResultPublisher(
        SimpleNamespace(xcom_push=lambda key, value: pushed["runner"].append(value)), "b"
    )
    log = w.ResultPublisher(SimpleNamespace(xcom_push=lambda key, value: pushed["log"].append(value)), "b")
    for unique_id, status, seconds, rows in NODES:
        for message in _dbt_fires(unique_id, status, seconds, rows):
            runner.on_event(message)
            log.on_log_line(msg_to_json(message))  # a log at debug level
    assert runner.close() == log.close()
    assert pushed["runner"][-1] == pushed["log"][-1]
    assert pushed["runner"][-1]["results"]["model.p.good"] == {
        "unique_id": "model.p.good",
        "status": "success",
        "execution_time": 0.25,
        "invocation_id": pushed["runner"][-1]["results"]["model.p.bad"]["invocation_id"],
        "relation_name": "`s`.`good`",
        "adapter_response": {"rows_affected": 5},
    }


def test_node_statuses_are_dbt_s_and_classified_once():
    from dbt.artifacts.schemas.results import NodeStatus as DbtNodeStatus

    from dbt_spark_operator.results import NodeStatus, summarize

    assert {s.value for s in NodeStatus} == {s.value for s in DbtNodeStatus}
    assert {s.value for s in NodeStatus if s.succeeded} == {"success", "pass", "warn", "no-op"}
    assert {s.value for s in NodeStatus if s.failed} == {"error", "fail", "runtime error"}
    assert {s.value for s in NodeStatus if s.warned} == {"warn"}
    assert NodeStatus.of("started") is None and NodeStatus.of(None) is None
    artifact = {
        "results": [{"unique_id": u, "status": s, "execution_time": t} for u, s, t, _ in NODES]
        + [{"unique_id": "source.p.s.t", "status": "runtime error"}]
    }
    summary = summarize(artifact)
    assert summary["failed"] == ["model.p.bad", "test.p.not_null.1", "source.p.s.t"]
    assert summary["warned"] == ["test.p.unique.2"]
    assert summary["counts"]["skipped"] == 1
