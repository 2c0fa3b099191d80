"""The watched build's task: ``dbt build`` of the group's selection, each node's result published to
XCom as dbt finishes it (:class:`ResultPublisher`), in the worker (:class:`DbtBuildProducer`) or, with
:mod:`.pod`, in one pod."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from cosmos.operators.local import DbtBuildLocalOperator

from dbt_spark_operator.graph.dbt_task import DbtTask

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


class DbtBuildProducer(DbtTask, DbtBuildLocalOperator):
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
