"""Watcher execution: one ``dbt build`` builds the whole selection with dbt's threads, and every seed,
model, snapshot and test keeps its own task, which mirrors its node's result from that build.

- The **build** task (``<group>.dbt_build``) runs ``dbt build`` in the worker and publishes each node's
  result to XCom (key ``dbt_build``) as dbt finishes it.
- Every **node task** starts in the triggerer (Airflow's ``start_from_trigger``), not in a worker: its
  :class:`NodeTrigger` waits for the node's result and ends the task there (success, or failure with the
  task's own retries). A task that declares an asset resumes in a worker for the asset event only. A
  task runs its node itself (as in ``local`` execution) when the build cannot give it a result it has
  not mirrored yet: the task was cleared or retried after mirroring, dbt skipped the node, or the build
  ended without it.
- A cleared build task (a whole run cleared, or "clear failed tasks") builds again, in one ``dbt
  build``, the nodes whose tasks did not succeed.

``watcher_kubernetes`` (:mod:`~dbt_spark_operator.watcher_pod`) builds in one pod instead and reads the
results from the pod's log; its node tasks are the same mirrors, of the Kubernetes execution's tasks.

Why not Cosmos's ``ExecutionMode.WATCHER``: its consumers are sensors that take a worker to start, defer,
and take another to resume; with hundreds of nodes that worker churn, not dbt, is the run's cost, and a
deferral's exit races the trigger that fires at once (an Airflow core race, see docs/watcher.md). A
node task here occupies no worker unless it has dbt work or an asset event to do.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from airflow.triggers.base import (
    BaseTrigger,
    StartTriggerArgs,
    TaskFailedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)
from cosmos.operators.local import DbtBuildLocalOperator

from dbt_spark_operator import compat, dbt_task

log = logging.getLogger(__name__)

BUILD_TASK = "dbt_build"
BUILD_KEY = "dbt_build"  # on the build task: {"id": one per try, "results": {unique_id: result}}
MIRROR_KEY = "dbt_mirror"  # on a node task: {"build": the build id it mirrored, "try": its try number}
SUCCESS = frozenset({"success", "pass", "warn", "no-op"})
FAILED = frozenset({"error", "fail", "runtime error"})
TERMINAL = SUCCESS | FAILED | {"skipped", "partial success"}  # a node's status once dbt is done with it
FINAL = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})  # the build's states
# Node task states the build leaves alone when it builds again: done, or running their node themselves.
NOT_REBUILT = frozenset({"success", "scheduled", "queued", "running", "restarting"})
POKE_SECONDS = 0.5  # a node task's wait per level of the graph; one request per DAG run per poke


# --- the build task -------------------------------------------------------------------------------


class ResultPublisher:
    """Collects dbt's ``NodeFinished`` events (a dbt runner callback, called from dbt's threads) and
    pushes every result so far as one XCom, at most every ``interval`` seconds and once at the end."""

    def __init__(self, ti: Any, build_id: str, interval: float = 0.5) -> None:
        self._ti = ti
        self._build_id = build_id
        self._results: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._interval = interval
        self.dbt_ran = False  # dbt reported the end of its run (on_log_line)
        self._push()  # the build's id first: node tasks know this try's results from an earlier one's
        self._thread = threading.Thread(target=self._flush_loop, name="dbt-build-results", daemon=True)
        self._thread.start()

    def on_event(self, event: Any) -> None:
        """A dbt runner callback (``watcher``): dbt's ``NodeFinished`` event, with the adapter's response."""
        if event.info.name != "NodeFinished":
            return
        node, result = event.data.node_info, event.data.run_result
        entry: dict[str, Any] = {
            "unique_id": node.unique_id,
            "status": str(result.status),
            "execution_time": float(result.execution_time),
            "invocation_id": event.info.invocation_id,
        }
        if node.node_relation.relation_name:
            entry["relation_name"] = node.node_relation.relation_name
        rows = result.adapter_response.fields.get("rows_affected") if result.adapter_response else None
        if rows is not None and rows.HasField("number_value"):
            entry["adapter_response"] = {"rows_affected": int(rows.number_value)}
        self._record(entry)

    def on_log_line(self, line: str) -> None:
        """One line of dbt's JSON log (``--log-format json``, ``watcher_kubernetes``: the build pod's log).

        dbt logs a node's end at info level in its result event (``LogModelResult``, ``LogTestResult``...,
        ``SkippingDetails`` for a node it skipped), whose ``node_info`` carries the node's status; the
        adapter's response (rows affected) is only in the debug-level ``NodeFinished``, which is not
        logged. ``StatsLine`` (dbt's "Done. PASS=..." line) means dbt ran every node it could."""
        try:
            event = json.loads(line)
            name = event["info"]["name"]
            data = event.get("data") or {}
        except (ValueError, KeyError, TypeError):
            return  # not one of dbt's JSON lines (the pod's own output)
        if name == "StatsLine":
            self.dbt_ran = True
            return
        node = data.get("node_info") or {}
        status = node.get("node_status")
        if not node.get("unique_id") or status not in TERMINAL:
            return
        entry = {
            "unique_id": node["unique_id"],
            "status": status,
            "execution_time": float(data.get("execution_time") or 0.0),
            "invocation_id": event["info"].get("invocation_id"),
        }
        if relation := (node.get("node_relation") or {}).get("relation_name"):
            entry["relation_name"] = relation
        self._record(entry)

    def _record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._results[entry["unique_id"]] = entry
        self._dirty.set()

    def _push(self) -> None:
        with self._lock:
            value = {"id": self._build_id, "results": dict(self._results)}
        self._ti.xcom_push(key=BUILD_KEY, value=value)

    def _flush_loop(self) -> None:
        while not self._closed.is_set():
            if self._dirty.wait(timeout=self._interval):
                self._dirty.clear()
                self._push()
                self._closed.wait(self._interval)

    def log_failed(self) -> None:
        """Name the nodes dbt reported failed (each fails its own task, not the build)."""
        with self._lock:
            failed = sorted(u for u, r in self._results.items() if r["status"] in FAILED)
        if failed:
            log.warning(
                "dbt build: %d nodes failed, each in its own task: %s", len(failed), ", ".join(failed)
            )

    def close(self) -> dict[str, dict[str, Any]]:
        self._closed.set()
        self._dirty.set()
        self._thread.join()
        self._push()
        return self._results


def start_build(task: Any, ti: Any) -> ResultPublisher | None:
    """Set ``task`` (a build task with ``node_tasks``) to what this try builds and return the publisher
    of its results; None when there is nothing to build (an empty result published). Its first try
    builds the group's selection; a later one (the build task cleared) exactly the nodes whose tasks did
    not succeed and are not running their node themselves (not the tests dbt would add of a selected
    model)."""
    todo = _rebuild_selection(ti, task.node_tasks)
    if todo == []:
        return None
    if todo:
        task.select, task.exclude, task.selector = " ".join(todo), None, None
        task.indirect_selection = "empty"
    return ResultPublisher(ti, str(uuid.uuid4()))


def _rebuild_selection(ti: Any, node_tasks: Mapping[str, str]) -> list[str] | None:
    if ti.try_number <= 1:
        return None
    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=list(node_tasks), run_ids=[ti.run_id]).get(
        ti.run_id, {}
    )
    todo = sorted(
        selector for task_id, selector in node_tasks.items() if str(states.get(task_id)) not in NOT_REBUILT
    )
    if not todo:
        log.info("Every node task of this build succeeded or is running its node: nothing to build")
        ti.xcom_push(key=BUILD_KEY, value={"id": str(uuid.uuid4()), "results": {}})
    else:
        log.info("Building again the %d nodes whose tasks did not succeed", len(todo))
    return todo


class EventsToPublisher:
    """A dbt runner callback given to the build task when it is built (Cosmos's ``dbt_runner_callbacks``):
    hands each of dbt's events to the publisher of the running build, if any."""

    def __init__(self) -> None:
        self.publisher: ResultPublisher | None = None

    def __repr__(self) -> str:  # the same in every process that parses the DAG
        return f"{type(self).__name__}()"

    def __call__(self, event: Any) -> None:
        if self.publisher is not None:
            self.publisher.on_event(event)


class DbtBuildProducer(DbtBuildLocalOperator):
    """``dbt build`` of the group's selection in the worker, each node's result published as it ends.

    Its first try builds the selection; a later one (the task cleared) builds the nodes whose tasks did
    not succeed, in one ``dbt build``. It takes no retries of its own: a node's retry is its task's. It
    succeeds when dbt ran every node it could: a node's failure fails that node's task, not the build;
    dbt's own errors (profile, project, connection) fail the build."""

    def __init__(self, *, node_tasks: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        kwargs["retries"] = 0
        events = EventsToPublisher()
        kwargs["dbt_runner_callbacks"] = [*(kwargs.get("dbt_runner_callbacks") or []), events]
        super().__init__(**kwargs)
        self.node_tasks: dict[str, str] = dict(node_tasks or {})  # task id -> dbt selector
        self.dbt_events = events

    def execute(self, context: Any, **kwargs: Any) -> Any:
        publisher = start_build(self, context["ti"])
        if publisher is None:
            return None
        self.dbt_events.publisher = publisher
        try:
            return super().execute(context, **kwargs)
        finally:
            results = publisher.close()
            log.info("dbt build published the results of %d nodes", len(results))

    def _running(self) -> ResultPublisher:
        """The publisher of the build this task runs (set by :meth:`execute`)."""
        publisher = self.dbt_events.publisher
        assert publisher is not None, "dbt ran outside DbtBuildProducer.execute"
        return publisher

    def handle_exception_dbt_runner(self, result: Any) -> None:
        if result.exception is None and result.result is not None:
            self._running().log_failed()
            return
        super().handle_exception_dbt_runner(result)

    def handle_exception_subprocess(self, result: Any) -> None:
        if result.exit_code == 1:  # dbt ran; some nodes failed
            self._running().log_failed()
            return
        super().handle_exception_subprocess(result)


# --- the node tasks -------------------------------------------------------------------------------


class _BuildView:
    """One poll of the build task's state and results per DAG run and ``POKE_SECONDS``, shared by every node
    trigger of that run in this triggerer (hundreds of triggers, one request each per poll)."""

    _cache: dict[tuple[str, str, str], tuple[float, asyncio.Future[tuple[str | None, Any]]]] = {}

    @classmethod
    async def get(cls, ti: Any, build_task_id: str) -> tuple[str | None, Mapping[str, Any] | None]:
        key = (ti.dag_id, ti.run_id, build_task_id)
        now = time.monotonic()
        cached = cls._cache.get(key)
        if cached is None or now - cached[0] >= POKE_SECONDS:
            for old in [k for k, (at, _) in cls._cache.items() if now - at > 60]:  # runs that ended
                del cls._cache[old]
            future = asyncio.ensure_future(asyncio.to_thread(cls._fetch, ti, build_task_id))
            cls._cache[key] = (now, future)
            cached = cls._cache[key]
        return await asyncio.shield(cached[1])

    @staticmethod
    def _fetch(ti: Any, build_task_id: str) -> tuple[str | None, Any]:
        # The state first: once the build is final, the results read next are its last. Before its try
        # runs, the build's XCom is an earlier try's (Airflow clears it when the try starts): unread.
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[build_task_id], run_ids=[ti.run_id])
        found = states.get(ti.run_id, {}).get(build_task_id)
        state = str(found) if found is not None else None
        if state != "running" and state not in FINAL:
            return state, None
        return state, compat.trigger_xcom_get(ti, build_task_id, BUILD_KEY)


class NodeTrigger(BaseTrigger):
    """Waits in the triggerer for one node's result from the build and ends its task with it (see the
    module's docstring); resumes the task in a worker to run the node itself or to emit its asset."""

    def __init__(self, unique_id: str, build_task_id: str, emits_asset: bool = False) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.unique_id = unique_id
        self.build_task_id = build_task_id
        self.emits_asset = emits_asset

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "unique_id": self.unique_id,
                "build_task_id": self.build_task_id,
                "emits_asset": self.emits_asset,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        ti: Any = self.task_instance
        mirrored = None  # what an earlier try of this task mirrored: none before its second try
        if ti.try_number > 1:
            mirrored = await asyncio.to_thread(compat.trigger_xcom_get, ti, ti.task_id, MIRROR_KEY)
        while True:
            state, build = await _BuildView.get(ti, self.build_task_id)
            result = ((build or {}).get("results") or {}).get(self.unique_id)
            build_id = (build or {}).get("id")
            final = state in FINAL
            if result is not None and not _already_mirrored(mirrored, build_id, ti.try_number):
                yield await self._mirror(ti, build_id, result)
                return
            if final:
                reason = "its result was mirrored by an earlier try" if result else "the build did not run it"
                log.info("dbt node %s: %s; the task runs it itself", self.unique_id, reason)
                yield _resume({"action": "run"})
                return
            await asyncio.sleep(POKE_SECONDS)

    async def _mirror(self, ti: Any, build_id: str | None, result: Mapping[str, Any]) -> TriggerEvent:
        status = result.get("status")
        if status not in SUCCESS and status not in FAILED:  # skipped (an upstream node failed)
            log.info("dbt node %s: %s in the build; the task runs it itself", self.unique_id, status)
            return _resume({"action": "run"})
        mirror = {"build": build_id, "try": ti.try_number}
        await asyncio.to_thread(compat.trigger_xcom_set, ti, MIRROR_KEY, mirror)
        if status in SUCCESS:
            log.info(
                "dbt node %s: %s in the build (%.1f s)",
                self.unique_id,
                status,
                result.get("execution_time") or 0,
            )
            if self.emits_asset:
                return _resume({"action": "mirrored", "result": dict(result)})
            return TaskSuccessEvent()
        log.error("dbt node %s: %s in the build; see the build task's log", self.unique_id, status)
        return TaskFailedEvent()


def _already_mirrored(mirrored: Mapping[str, Any] | None, build_id: str | None, try_number: int) -> bool:
    """Whether an earlier try of this task mirrored this build's result (the task was cleared or
    retried since): then the build has nothing more for it."""
    if not mirrored:
        return False
    return bool(mirrored.get("build") == build_id and mirrored.get("try", 0) < try_number)


def _resume(payload: dict[str, Any]) -> TriggerEvent:
    """Resume the task in a worker, at ``MirrorMixin.resume_from_build`` with ``payload``."""
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


class MirrorMixin:
    """Mixed into a Cosmos local or Kubernetes operator of one node: the task starts in the triggerer
    (:class:`NodeTrigger`) and resumes in a worker only to run its node or to emit its asset event."""

    start_from_trigger = True
    start_trigger_args: StartTriggerArgs
    connection_when_dbt_runs = True  # ConnectionAtRun leaves it to _run_node: an asset event needs none

    def resume_from_build(self, context: Any, event: Mapping[str, Any] | None = None) -> Any:
        """In a worker, after :class:`NodeTrigger`: record the mirrored result, or run the node."""
        event = event or {}
        if event.get("action") == "mirrored":
            self._keep_result(dict(event.get("result") or {}))
            return None
        return self._run_node(context)

    def execute(self, context: Any) -> Any:
        """Only where no triggerer starts the task (``airflow dags test`` runs every task in one process,
        one after the other): the build's success for this node when it has one; else the task runs its
        node, which reports dbt's own error when it fails again."""
        kwargs = self.start_trigger_args.trigger_kwargs or {}
        build = context["ti"].xcom_pull(task_ids=kwargs["build_task_id"], key=BUILD_KEY) or {}
        result = (build.get("results") or {}).get(kwargs["unique_id"])
        status = (result or {}).get("status")
        if status in SUCCESS:
            self._keep_result(dict(result or {}))
            return None
        return self._run_node(context)

    def _run_node(self, context: Any) -> Any:
        """Run the node as the task of its execution does, the connection read (and checked) first."""
        dbt_task.require_setup(self).apply_connection(self)
        return super().execute(context)  # type: ignore[misc]

    def _keep_result(self, result: dict[str, Any]) -> None:
        """What post_execute (AssetEventsAtEnd) reads for the asset event's extra."""
        dbt_task.keep_result(
            self, {"metadata": {"invocation_id": result.pop("invocation_id", None)}, "results": [result]}
        )


def make_mirror(task: Any, unique_id: str, build_task_id: str) -> None:
    """Turn one node task of a local or Kubernetes task group into a mirror of its node in the build."""
    compat.cosmos_task_class(task, _mirror_class(type(task)))
    task.start_from_trigger = True
    task.start_trigger_args = StartTriggerArgs(
        trigger_cls=f"{NodeTrigger.__module__}.{NodeTrigger.__qualname__}",
        trigger_kwargs={
            "unique_id": unique_id,
            "build_task_id": build_task_id,
            "emits_asset": bool(task.outlets),
        },
        next_method="resume_from_build",
        next_kwargs=None,
        timeout=None,
    )


_MIRRORS: dict[type, type] = {}


def _mirror_class(cls: type) -> type:
    if cls not in _MIRRORS:
        # The UI's operator name: DbtRunMirror (local), DbtRunKubernetesMirror (a pod when it runs its node)
        name = cls.__name__.removesuffix("Operator").removesuffix("Local") + "Mirror"
        _MIRRORS[cls] = type(name, (MirrorMixin, cls), {"__module__": __name__})
    return _MIRRORS[cls]
