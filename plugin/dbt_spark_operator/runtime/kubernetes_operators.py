"""The operator classes of Kubernetes execution: Cosmos's Kubernetes operators as pod tasks of this package
(:class:`CosmosPodTask`), under Cosmos's class names (the Airflow UI's operator names). A task group's node
tasks get them when Cosmos builds the task (:data:`NODE_OPERATORS`). Only the Kubernetes runtime imports
this module: it imports the Kubernetes provider and client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cosmos.operators import kubernetes

from dbt_spark_operator import compat
from dbt_spark_operator.graph.dbt_task import DbtTask
from dbt_spark_operator.pod.task import PodTaskMixin

if TYPE_CHECKING:
    from kubernetes.client import models as k8s


class CosmosPodTask(PodTaskMixin):
    """Mixed in before one of Cosmos's Kubernetes operators: :class:`~dbt_spark_operator.pod.task.
    PodTaskMixin`, and what the task's pod returned (the XCom sidecar's ``return.json``) kept as
    ``dbt_pod_result``, for the task's ``post_execute`` (its asset event).

    Cosmos 1.15.1 runs the pod through ``KubernetesPodOperator.execute`` and only logs its result: the
    task returns nothing, and KubernetesPodOperator's ``callbacks`` run before the sidecar is read. The
    provider (10.25) reads the sidecar with the task's own public ``extract_xcom(pod)``, extended here."""

    def extract_xcom(self, pod: k8s.V1Pod, **kwargs: Any) -> Any:
        """The provider's, the result kept on the task."""
        result = super().extract_xcom(pod, **kwargs)  # type: ignore[misc]
        self.dbt_pod_result = result
        return result


@compat.operator_init_applied_once
class DbtRunKubernetesOperator(CosmosPodTask, kubernetes.DbtRunKubernetesOperator):
    """``dbt run`` of one model, in its pod."""


@compat.operator_init_applied_once
class DbtSeedKubernetesOperator(CosmosPodTask, kubernetes.DbtSeedKubernetesOperator):
    """``dbt seed`` of one seed, in its pod."""


@compat.operator_init_applied_once
class DbtSnapshotKubernetesOperator(CosmosPodTask, kubernetes.DbtSnapshotKubernetesOperator):
    """``dbt snapshot`` of one snapshot, in its pod."""


@compat.operator_init_applied_once
class DbtTestKubernetesOperator(CosmosPodTask, kubernetes.DbtTestKubernetesOperator):
    """``dbt test`` of one test, in its pod."""


@compat.operator_init_applied_once
class DbtSourceKubernetesOperator(CosmosPodTask, kubernetes.DbtSourceKubernetesOperator):
    """``dbt source freshness`` of one source, in its pod."""


@compat.operator_init_applied_once
class DbtRunOperationKubernetesOperator(CosmosPodTask, kubernetes.DbtRunOperationKubernetesOperator):
    """``dbt run-operation`` of one macro, in its pod (:func:`~dbt_spark_operator.graph.task_group.
    dbt_run_operation`)."""


NODE_OPERATORS: Mapping[str, type[DbtTask]] = {
    "DbtRun": DbtRunKubernetesOperator,
    "DbtSeed": DbtSeedKubernetesOperator,
    "DbtSnapshot": DbtSnapshotKubernetesOperator,
    "DbtTest": DbtTestKubernetesOperator,
    "DbtSource": DbtSourceKubernetesOperator,
}
"""The class of a task group's node task, by the dbt class Cosmos names it after (``DbtRun``...)."""
