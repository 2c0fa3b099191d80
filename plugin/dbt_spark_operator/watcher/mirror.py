"""The node tasks of a watched build: each starts in the triggerer (:class:`NodeTrigger`), mirrors its
node's result from the build task's XCom, and resumes in a worker only to run its node itself or to
record its asset event (:class:`MirrorMixin`). The mirrors of local execution's node tasks are here
(:data:`MIRRORS`); those of Kubernetes execution's in :mod:`.pod`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from airflow.triggers.base import (
    BaseTrigger,
    StartTriggerArgs,
    TaskFailedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)

from dbt_spark_operator import compat
from dbt_spark_operator.graph.dbt_task import DbtTask
from dbt_spark_operator.results import NodeStatus
from dbt_spark_operator.runtime import local_operators
from dbt_spark_operator.watcher.build import BUILD_KEY, FINAL, MIRROR_KEY, POKE_SECONDS

log = logging.getLogger(__name__)


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
        status = NodeStatus.of(result.get("status"))
        if status is None or not (status.succeeded or status.failed):  # skipped (an upstream node failed)
            log.info(
                "dbt node %s: %s in the build; the task runs it itself", self.unique_id, result.get("status")
            )
            return _resume({"action": "run"})
        mirror = {"build": build_id, "try": ti.try_number}
        await asyncio.to_thread(compat.trigger_xcom_set, ti, MIRROR_KEY, mirror)
        if status.succeeded:
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


class MirrorMixin(DbtTask):
    """Mixed in before the class of a local or Kubernetes node task: the task starts in the triggerer
    (:class:`NodeTrigger`) and resumes in a worker only to run its node or to emit its asset event."""

    start_from_trigger = True
    start_trigger_args: StartTriggerArgs
    outlets: list[Any]  # an operator's
    connection_when_dbt_runs: ClassVar[bool] = True  # read by _run_node only: an asset event needs none

    def follow_build(self, unique_id: str, build_task_id: str) -> None:
        """Mirror the node ``unique_id`` from the build task ``build_task_id`` (the task's trigger)."""
        self.start_from_trigger = True
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=f"{NodeTrigger.__module__}.{NodeTrigger.__qualname__}",
            trigger_kwargs={
                "unique_id": unique_id,
                "build_task_id": build_task_id,
                "emits_asset": bool(self.outlets),
            },
            next_method="resume_from_build",
            next_kwargs=None,
            timeout=None,
        )

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
        status = NodeStatus.of((result or {}).get("status"))
        if status is not None and status.succeeded:
            self._keep_result(dict(result or {}))
            return None
        return self._run_node(context)

    def _run_node(self, context: Any) -> Any:
        """Run the node as the task of its execution does, the connection read (and checked) first."""
        self.require_setup().apply_connection(self)
        return super().execute(context)  # type: ignore[misc]

    def _keep_result(self, result: dict[str, Any]) -> None:
        """What post_execute (AssetEventsAtEnd) reads for the asset event's extra."""
        self.dbt_pod_result = {
            "metadata": {"invocation_id": result.pop("invocation_id", None)},
            "results": [result],
        }


# The UI's operator names: DbtRunMirror here, DbtRunKubernetesMirror (.pod: a pod when it runs its node).


@compat.operator_init_applied_once
class DbtRunMirror(MirrorMixin, local_operators.DbtRunLocalOperator):
    """A model's task in a watched build (watcher execution)."""


@compat.operator_init_applied_once
class DbtSeedMirror(MirrorMixin, local_operators.DbtSeedLocalOperator):
    """A seed's task in a watched build (watcher execution)."""


@compat.operator_init_applied_once
class DbtSnapshotMirror(MirrorMixin, local_operators.DbtSnapshotLocalOperator):
    """A snapshot's task in a watched build (watcher execution)."""


@compat.operator_init_applied_once
class DbtTestMirror(MirrorMixin, local_operators.DbtTestLocalOperator):
    """A test's task in a watched build (watcher execution)."""


MIRRORS: Mapping[str, type[MirrorMixin]] = {
    "DbtRun": DbtRunMirror,
    "DbtSeed": DbtSeedMirror,
    "DbtSnapshot": DbtSnapshotMirror,
    "DbtTest": DbtTestMirror,
}
"""The class of a watched build's node task, by the dbt class Cosmos names it after; a source's task
(``DbtSource``, its freshness) runs as in local execution."""
