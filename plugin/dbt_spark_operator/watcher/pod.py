"""``watcher_kubernetes`` execution: the build runs in one pod (Cosmos's ``DbtBuildKubernetesOperator``
with the package's pod settings), and the worker reads each node's result from the pod's log as
KubernetesPodOperator streams it (dbt's JSON log, through the operator's public ``callbacks``).

The node tasks are :mod:`~dbt_spark_operator.watcher`'s mirrors of the Kubernetes execution's tasks
(:data:`MIRRORS`): they start in the triggerer and, when they run their node themselves, run it in its own
pod.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.providers.cncf.kubernetes.callbacks import KubernetesPodOperatorCallback
from cosmos.operators.kubernetes import DbtBuildKubernetesOperator

from dbt_spark_operator import compat
from dbt_spark_operator.pod.task import PodTaskMixin
from dbt_spark_operator.runtime import kubernetes_operators
from dbt_spark_operator.watcher.build import BuildProducer, PublisherFeed
from dbt_spark_operator.watcher.mirror import MirrorMixin

log = logging.getLogger(__name__)


class BuildLogReader(PublisherFeed, KubernetesPodOperatorCallback):
    """Hands every line of the build container's log to the running build's publisher as
    KubernetesPodOperator reads it (``get_logs``), before the pod ends. Given to the task when it is
    built (KubernetesPodOperator's ``callbacks``), as its pod manager holds them from its first use."""

    def progress_callback(self, *, line: str, container_name: str = "base", **kwargs: Any) -> None:  # type: ignore[override]
        if container_name == "base" and self.publisher is not None:
            self.publisher.on_log_line(line.strip())


class DbtBuildPodProducer(BuildProducer, PodTaskMixin, DbtBuildKubernetesOperator):
    """``dbt build`` of the group's selection in one pod (dbt's JSON log), each node's result published
    as dbt logs it; dbt ran every node it could when it logged its "Done." line, even when the pod exits
    1 because some nodes failed; anything else (the pod never started, dbt's own error) fails the build."""

    feed_class = BuildLogReader
    feed_argument = "callbacks"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(log_format="json", **kwargs)

    def run_dbt(self, context: Any, **kwargs: Any) -> Any:
        try:
            return super().run_dbt(context, **kwargs)
        except Exception:
            publisher = self.feed.publisher
            if not self.build_succeeds(dbt_ran=publisher is not None and publisher.dbt_ran):
                raise
            log.info("The build pod exited non-zero after dbt ran every node it could")
            return None


@compat.operator_init_applied_once
class DbtRunKubernetesMirror(MirrorMixin, kubernetes_operators.DbtRunKubernetesOperator):
    """A model's task in a watched build (watcher_kubernetes execution)."""


@compat.operator_init_applied_once
class DbtSeedKubernetesMirror(MirrorMixin, kubernetes_operators.DbtSeedKubernetesOperator):
    """A seed's task in a watched build (watcher_kubernetes execution)."""


@compat.operator_init_applied_once
class DbtSnapshotKubernetesMirror(MirrorMixin, kubernetes_operators.DbtSnapshotKubernetesOperator):
    """A snapshot's task in a watched build (watcher_kubernetes execution)."""


@compat.operator_init_applied_once
class DbtTestKubernetesMirror(MirrorMixin, kubernetes_operators.DbtTestKubernetesOperator):
    """A test's task in a watched build (watcher_kubernetes execution)."""


MIRRORS: Mapping[str, type[MirrorMixin]] = {
    "DbtRun": DbtRunKubernetesMirror,
    "DbtSeed": DbtSeedKubernetesMirror,
    "DbtSnapshot": DbtSnapshotKubernetesMirror,
    "DbtTest": DbtTestKubernetesMirror,
}
"""The class of a watched build's node task, by the dbt class Cosmos names it after; a source's task
(``DbtSource``, its freshness) runs as in Kubernetes execution."""
