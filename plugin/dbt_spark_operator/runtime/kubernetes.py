"""dbt in a pod per process: Cosmos's Kubernetes operators (:mod:`.kubernetes_operators`) with the
package's pod settings. The Kubernetes provider and client are imported in the methods only (see
:mod:`~dbt_spark_operator.runtime`)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbt_spark_operator import compat
from dbt_spark_operator.execution import Graph, Runtime

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from cosmos import ExecutionConfig

    from dbt_spark_operator.connection.profile import RenderedProfile
    from dbt_spark_operator.graph.dbt_task import DbtTask
    from dbt_spark_operator.pod.settings import PodSettings
    from dbt_spark_operator.project.setup import ProjectSetup
    from dbt_spark_operator.runtime import PodCommandTask


@functools.cache
def _accepted_args() -> frozenset[str]:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from cosmos.operators.base import AbstractDbtBase

    return compat.operator_arguments((KubernetesPodOperator, AbstractDbtBase))


@functools.cache
def precompute_init_signatures() -> None:
    """Cosmos reads the signature of every KubernetesPodOperator class for every task it builds: give
    them a precomputed one (:func:`compat.precompute_init_signatures`)."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from cosmos.operators.base import AbstractDbtBase

    compat.precompute_init_signatures((KubernetesPodOperator, AbstractDbtBase))


@functools.cache
def _node_operators(graph: Graph) -> Mapping[str, type[DbtTask]]:
    """The node task classes of ``graph``, their signatures precomputed as Cosmos's own."""
    from dbt_spark_operator.runtime.kubernetes_operators import NODE_OPERATORS

    classes = NODE_OPERATORS
    if graph is Graph.WATCHED_BUILD:
        from dbt_spark_operator.watcher.pod import MIRRORS

        classes = {**NODE_OPERATORS, **MIRRORS}
    compat.precompute_init_signatures(classes.values())
    return classes


@dataclass(frozen=True)
class KubernetesRuntime:
    """dbt runs in a pod per task (:class:`~dbt_spark_operator.runtime.DbtRuntime`)."""

    @property
    def runtime(self) -> Runtime:
        return Runtime.KUBERNETES

    def accepted_args(self) -> frozenset[str]:
        return _accepted_args()

    def pod_settings(self, pod: PodSettings | None) -> PodSettings:
        from dbt_spark_operator.pod.settings import PodSettings

        return pod or PodSettings()

    def check_at_parse(self, setup: ProjectSetup) -> None:
        setup.pod_args  # noqa: B018 -- checks the pod settings now, at DAG parse

    def operator_args(self, setup: ProjectSetup) -> dict[str, Any]:
        """The pod, the user's extra arguments, the run-time hooks."""
        return {
            **setup.pod_args,
            **setup.operator_args,
            "pre_execute": setup.at_run,
            "post_execute": setup.at_end,
        }

    def prepare_render(self) -> None:
        precompute_init_signatures()

    def execution_config(self, setup: ProjectSetup) -> ExecutionConfig:
        from cosmos import ExecutionConfig
        from cosmos.constants import ExecutionMode

        return ExecutionConfig(
            execution_mode=ExecutionMode.KUBERNETES, dbt_project_path=setup.pod_project_dir
        )

    def rendered_project_path(self, setup: ProjectSetup) -> Path | None:
        return None  # the pod's (execution_config), not this host's

    def node_operators(self, graph: Graph) -> Mapping[str, type[DbtTask]]:
        return _node_operators(graph)

    def node_task(self, task: Any) -> None:
        """A pod task named and labelled after its node, with resources from the node's ``meta``."""
        from dbt_spark_operator.pod.settings import name_pod, node_resources

        node = compat.cosmos_node_config(task)
        name_pod(task, node.get("name") or task.task_id, node.get("resource_type") or "unknown")
        custom = node_resources(node)
        if custom is not None:
            task.container_resources = custom

    def carry_result(self, task: Any) -> None:
        task.do_xcom_push = True  # the sidecar carries dbt's result for the asset event

    def build_producer(self, setup: ProjectSetup, node: str, **build_args: Any) -> BaseOperator:
        from dbt_spark_operator.pod.settings import name_pod
        from dbt_spark_operator.watcher.pod import DbtBuildPodProducer

        build = DbtBuildPodProducer(
            project_dir=setup.pod_project_dir, **build_args, **self.operator_args(setup)
        )
        build.dbt_setup = setup
        name_pod(build, node, "build")
        return build

    def run_operation(self, setup: ProjectSetup, task_id: str, macro_name: str) -> BaseOperator:
        from dbt_spark_operator.pod.settings import name_pod
        from dbt_spark_operator.runtime.kubernetes_operators import DbtRunOperationKubernetesOperator

        task = DbtRunOperationKubernetesOperator(
            task_id=task_id,
            macro_name=macro_name,
            project_dir=setup.pod_project_dir,
            profile_config=setup.profile,
            **self.operator_args(setup),
        )
        task.dbt_setup = setup
        name_pod(task, macro_name, "operation")
        return task

    def apply_connection(self, setup: ProjectSetup, task: Any, rendered: RenderedProfile) -> None:
        setup.add_connection_to_pod(task, rendered)

    def run_pod_command(self, task: PodCommandTask, context: Any) -> tuple[Any, str | None]:
        task.log.info("Running command: %s", task.cmds + task.arguments)
        return compat.cosmos_kubernetes_execute(task, context), None  # the sidecar's return.json

    def stop_pod_command(self, task: PodCommandTask) -> None:
        task.stop_pod()
