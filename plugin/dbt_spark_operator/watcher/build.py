"""The watched build's task: ``dbt build`` of the group's selection, each node's result published to
XCom as dbt finishes it (:class:`ResultPublisher`). :class:`BuildProducer` is what the task adds to
Cosmos's build operator wherever dbt runs: in the worker (:class:`DbtBuildProducer`) or, with
:mod:`.pod`, in one pod."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from cosmos.operators.local import DbtBuildLocalOperator

from dbt_spark_operator.graph.dbt_task import DbtTask
from dbt_spark_operator.watcher.events import NodeResult, RunEnded, from_json_log_line, from_runner_event

log = logging.getLogger(__name__)

BUILD_TASK = "dbt_build"
BUILD_KEY = "dbt_build"  # on the build task: {"id": one per try, "results": {unique_id: result}}
MIRROR_KEY = "dbt_mirror"  # on a node task: {"build": the build id it mirrored, "try": its try number}
FINAL = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})  # the build's states
# Node task states the build leaves alone when it builds again: done, or running their node themselves.
NOT_REBUILT = frozenset({"success", "scheduled", "queued", "running", "restarting"})
POKE_SECONDS = 0.5  # a node task's wait per level of the graph; one request per DAG run per poke


# --- the build task -------------------------------------------------------------------------------


class ResultPublisher:
    """Collects the build's node results (from dbt's threads or the pod's log) and pushes every result
    so far as one XCom, at most every ``interval`` seconds and once at the end."""

    def __init__(self, ti: Any, build_id: str, interval: float = 0.5) -> None:
        self._ti = ti
        self._build_id = build_id
        self._results: dict[str, NodeResult] = {}
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._interval = interval
        self.dbt_ran = False  # dbt reported the end of its run (its StatsLine)
        self._push()  # the build's id first: node tasks know this try's results from an earlier one's
        self._thread = threading.Thread(target=self._flush_loop, name="dbt-build-results", daemon=True)
        self._thread.start()

    def on_event(self, event: Any) -> None:
        """A dbt runner callback's message (``watcher``)."""
        self.add(from_runner_event(event))

    def on_log_line(self, line: str) -> None:
        """One line of dbt's JSON log (``watcher_kubernetes``: the build pod's log)."""
        self.add(from_json_log_line(line))

    def add(self, found: NodeResult | RunEnded | None) -> None:
        """Record a node's result (the latest for a node wins), or the end of dbt's run."""
        if isinstance(found, RunEnded):
            self.dbt_ran = True
        elif found is not None:
            with self._lock:
                self._results[found.unique_id] = found
            self._dirty.set()

    def _push(self) -> None:
        self._ti.xcom_push(key=BUILD_KEY, value={"id": self._build_id, "results": self._xcom_results()})

    def _xcom_results(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {unique_id: result.to_xcom() for unique_id, result in self._results.items()}

    def _flush_loop(self) -> None:
        while not self._closed.is_set():
            if self._dirty.wait(timeout=self._interval):
                self._dirty.clear()
                self._push()
                self._closed.wait(self._interval)

    def log_failed(self) -> None:
        """Name the nodes dbt reported failed (each fails its own task, not the build)."""
        with self._lock:
            failed = sorted(u for u, r in self._results.items() if r.status.failed)
        if failed:
            log.warning(
                "dbt build: %d nodes failed, each in its own task: %s", len(failed), ", ".join(failed)
            )

    def close(self) -> dict[str, dict[str, Any]]:
        """Stop, push the results a last time and return them as pushed."""
        self._closed.set()
        self._dirty.set()
        self._thread.join()
        self._push()
        return self._xcom_results()


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


class PublisherFeed:
    """The object a build task is given when it is built (an operator's callback argument): it hands
    dbt's events to the publisher of the running build, if any."""

    def __init__(self, publisher: ResultPublisher | None = None) -> None:
        self.publisher = publisher

    def __repr__(self) -> str:  # the same in every process that parses the DAG
        return f"{type(self).__name__}()"


class EventsToPublisher(PublisherFeed):
    """A dbt runner callback (Cosmos's ``dbt_runner_callbacks``): dbt's events, from its threads."""

    def __call__(self, event: Any) -> None:
        if self.publisher is not None:
            self.publisher.on_event(event)


class BuildProducer:
    """What the watched build's task adds to Cosmos's build operator, wherever dbt runs.

    Its first try builds the group's selection; a later one (the task cleared) builds the nodes whose
    tasks did not succeed, in one ``dbt build``. It takes no retries of its own: a node's retry is its
    task's. It succeeds when dbt ran every node it could: a node's failure fails that node's task, not
    the build; dbt's own errors (profile, project, connection) fail the build. A concrete producer says
    how dbt's events reach it (its :class:`PublisherFeed`) and how it reads the end of dbt's process."""

    feed_class: ClassVar[type[PublisherFeed]]
    feed_argument: ClassVar[str]  # the operator's argument that takes the feed

    def __init__(self, *, node_tasks: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        kwargs["retries"] = 0
        feed = self.feed_class()
        given = kwargs.get(self.feed_argument) or []
        kwargs[self.feed_argument] = [*(given if isinstance(given, list) else [given]), feed]
        super().__init__(**kwargs)
        self.node_tasks: dict[str, str] = dict(node_tasks or {})  # task id -> dbt selector
        self.feed = feed

    def execute(self, context: Any, **kwargs: Any) -> Any:
        publisher = start_build(self, context["ti"])
        if publisher is None:
            return None
        self.feed.publisher = publisher
        try:
            return self.run_dbt(context, **kwargs)
        finally:
            results = publisher.close()
            log.info("dbt build published the results of %d nodes", len(results))

    def run_dbt(self, context: Any, **kwargs: Any) -> Any:
        """The build operator's own run of dbt."""
        return super().execute(context, **kwargs)  # type: ignore[misc]

    def build_succeeds(self, *, dbt_ran: bool) -> bool:
        """The success rule, given whether dbt ran every node it could (as read from its process's end):
        then the nodes it reported failed are named (each fails its own task) and the build succeeds."""
        if dbt_ran:
            publisher = self.feed.publisher
            assert publisher is not None, "dbt ran outside BuildProducer.execute"
            publisher.log_failed()
        return dbt_ran


class DbtBuildProducer(BuildProducer, DbtTask, DbtBuildLocalOperator):
    """``dbt build`` of the group's selection in the worker, each node's result published as dbt's
    runner reports it; dbt's end read from its runner's result or its process's exit code."""

    feed_class = EventsToPublisher
    feed_argument = "dbt_runner_callbacks"

    def __init__(self, **kwargs: Any) -> None:  # Airflow applies default_args to an __init__ a class defines
        super().__init__(**kwargs)

    def handle_exception_dbt_runner(self, result: Any) -> None:
        if not self.build_succeeds(dbt_ran=result.exception is None and result.result is not None):
            super().handle_exception_dbt_runner(result)

    def handle_exception_subprocess(self, result: Any) -> None:
        if not self.build_succeeds(dbt_ran=result.exit_code == 1):  # 1: dbt ran; some nodes failed
            super().handle_exception_subprocess(result)
