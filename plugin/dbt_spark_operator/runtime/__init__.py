"""Where dbt runs, behind one protocol: :class:`DbtRuntime`, one object per :class:`~dbt_spark_operator.
execution.Runtime` (:mod:`.local`, :mod:`.kubernetes`), chosen by :func:`runtime_for`.

A runtime answers every question whose answer depends on where dbt runs: the operators' arguments, the
Cosmos configuration, the operator class of each node task (:mod:`.local_operators`,
:mod:`.kubernetes_operators`), the build task of watcher execution, the run-operation task, a node task's
pod, how a task gets its connection when it runs, and how one of the nine operators runs and stops its
pod's command. The Kubernetes runtime imports the Kubernetes provider and client only in its methods: a
task process of local execution never imports them.

May import: :mod:`~dbt_spark_operator.execution`, :mod:`~dbt_spark_operator.project.paths`,
:mod:`~dbt_spark_operator.pod` (:mod:`.kubernetes_operators`, and inside methods elsewhere) and
:mod:`~dbt_spark_operator.watcher` (inside methods: their classes), :mod:`~dbt_spark_operator.graph.assets`
(the local run-results callback) and :mod:`~dbt_spark_operator.graph.dbt_task` (what a task keeps),
Cosmos's operators. A project's setup only for type checking: the setup holds a runtime, not the other
way round; the profile a task run read (:mod:`~dbt_spark_operator.connection`) only for type checking
too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dbt_spark_operator.execution import Graph, Runtime
from dbt_spark_operator.runtime.kubernetes import KubernetesRuntime
from dbt_spark_operator.runtime.local import LocalRuntime

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from cosmos import ExecutionConfig

    from dbt_spark_operator.connection.profile import RenderedProfile
    from dbt_spark_operator.graph.dbt_task import DbtTask
    from dbt_spark_operator.pod.settings import PodSettings
    from dbt_spark_operator.project.setup import ProjectSetup


class PodCommandTask(Protocol):
    """One of the nine command operators, as a runtime runs and stops its pod's command."""

    cmds: list[str]
    arguments: list[str]

    @property
    def log(self) -> Any: ...

    def run_as_local_process(self, context: Any) -> tuple[Any, str | None]: ...

    def stop_pod(self) -> None: ...

    def stop_local_process(self) -> None: ...


class DbtRuntime(Protocol):
    """What depends on where dbt runs."""

    @property
    def runtime(self) -> Runtime: ...

    def accepted_args(self) -> frozenset[str]:
        """Every argument the runtime's operators take."""
        ...

    def pod_settings(self, pod: PodSettings | None) -> PodSettings:
        """The pod settings of a project's tasks (local execution runs a pod's argv and env locally)."""
        ...

    def check_at_parse(self, setup: ProjectSetup) -> None:
        """Check at DAG parse what the runtime's tasks will need (the pod settings of a pod)."""
        ...

    def operator_args(self, setup: ProjectSetup) -> dict[str, Any]:
        """The arguments of every Cosmos operator of the project (task group, build, run-operation)."""
        ...

    def prepare_render(self) -> None:
        """Before Cosmos builds a task group's operators."""
        ...

    def execution_config(self, setup: ProjectSetup) -> ExecutionConfig:
        """Cosmos's execution configuration of the project's task group."""
        ...

    def rendered_project_path(self, setup: ProjectSetup) -> Path | None:
        """The project path Cosmos's ProjectConfig gets (None: the execution configuration names it)."""
        ...

    def node_operators(self, graph: Graph) -> Mapping[str, type[DbtTask]]:
        """The class of a task group's node tasks, by the dbt class Cosmos names it after (``"DbtRun"``,
        ``"DbtSeed"``, ``"DbtSnapshot"``, ``"DbtTest"``, ``"DbtSource"``), for a group whose graph runs
        as ``graph`` (a watched build's node tasks mirror the build: :mod:`~dbt_spark_operator.watcher`)."""
        ...

    def node_task(self, task: Any) -> None:
        """Finish a node's task that Cosmos built (its pod's name, labels and resources)."""
        ...

    def carry_result(self, task: Any) -> None:
        """Have a task that records an asset event hand dbt's result back to the worker."""
        ...

    def build_producer(self, setup: ProjectSetup, node: str, **build_args: Any) -> BaseOperator:
        """Watcher execution's build task, a dbt task of ``setup``; ``node`` names it in its pod's labels."""
        ...

    def run_operation(self, setup: ProjectSetup, task_id: str, macro_name: str) -> BaseOperator:
        """One ``dbt run-operation`` task, a dbt task of ``setup``."""
        ...

    def apply_connection(self, setup: ProjectSetup, task: Any, rendered: RenderedProfile) -> None:
        """Hand the profile that the task run read to where ``task`` runs dbt: its pod's env and Secret
        reference, or the profile of a Cosmos local operator."""
        ...

    def run_pod_command(self, task: PodCommandTask, context: Any) -> tuple[Any, str | None]:
        """Run one command operator's pod: dbt's result artifact, and why it failed (None if it did not)."""
        ...

    def stop_pod_command(self, task: PodCommandTask) -> None:
        """Stop what :meth:`run_pod_command` runs (Airflow stops the task)."""
        ...


_RUNTIMES: dict[Runtime, DbtRuntime] = {
    Runtime.LOCAL: LocalRuntime(),
    Runtime.KUBERNETES: KubernetesRuntime(),
}


def runtime_for(runtime: Runtime) -> DbtRuntime:
    """The runtime object of ``runtime``."""
    return _RUNTIMES[runtime]
