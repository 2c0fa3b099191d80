"""dbt in the Airflow worker: Cosmos's local operators (:mod:`.local_operators`), and the nine operators'
pod command as a local process."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbt_spark_operator import compat
from dbt_spark_operator.execution import Graph, Runtime
from dbt_spark_operator.graph.assets import keep_run_results
from dbt_spark_operator.graph.dbt_task import builds_pod
from dbt_spark_operator.project.paths import packages_dir

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from cosmos import ExecutionConfig

    from dbt_spark_operator.connection.profile import RenderedProfile
    from dbt_spark_operator.graph.dbt_task import DbtTask
    from dbt_spark_operator.pod.settings import PodSettings
    from dbt_spark_operator.project.setup import ProjectSetup
    from dbt_spark_operator.runtime import PodCommandTask

LOCAL_PASSWORD_SECRET = ("local-connection", "password")  # resolved from RenderedProfile.secret_env


@functools.cache
def _accepted_args() -> frozenset[str]:
    from cosmos.operators.base import AbstractDbtBase
    from cosmos.operators.local import DbtLocalBaseOperator

    return compat.operator_arguments((DbtLocalBaseOperator, AbstractDbtBase))


@dataclass(frozen=True)
class LocalRuntime:
    """dbt runs in the worker, a process per task (:class:`~dbt_spark_operator.runtime.DbtRuntime`)."""

    @property
    def runtime(self) -> Runtime:
        return Runtime.LOCAL

    def accepted_args(self) -> frozenset[str]:
        return _accepted_args()

    def pod_settings(self, pod: PodSettings | None) -> PodSettings:
        from dbt_spark_operator.pod.settings import PodSettings

        pod = pod or PodSettings()
        return pod if pod.password_secret is not None else pod.with_(password_secret=LOCAL_PASSWORD_SECRET)

    def check_at_parse(self, setup: ProjectSetup) -> None:
        if setup.pod is not None:  # the nine operators run the pod's command
            setup.pod_args  # noqa: B018 -- checks the pod settings now, at DAG parse

    def operator_args(self, setup: ProjectSetup) -> dict[str, Any]:
        """dbt finds the packages the deps task installed and writes its artifacts in the task's own copy
        of the project, which the task reads for its asset event (Cosmos's own OpenLineage assets are
        off: :mod:`~dbt_spark_operator.graph.assets` names them)."""
        env = {
            "DBT_PACKAGES_DIR": str(packages_dir(setup.path.name)),
            "DBT_TARGET_PATH": "target",  # in the task's copy of the project, never shared between tasks
            **setup.operator_args.get("env", {}),
        }
        callbacks = setup.operator_args.get("callback") or []
        callbacks = [*(callbacks if isinstance(callbacks, list) else [callbacks]), keep_run_results]
        return {
            "emit_datasets": False,  # dbt_task_group sets it for its tasks (RenderConfig)
            **setup.operator_args,
            "env": env,
            "callback": callbacks,
            "pre_execute": setup.at_run,
            "post_execute": setup.at_end,
        }

    def prepare_render(self) -> None:
        return None

    def execution_config(self, setup: ProjectSetup) -> ExecutionConfig:
        from cosmos import ExecutionConfig
        from cosmos.constants import ExecutionMode

        return ExecutionConfig(execution_mode=ExecutionMode.LOCAL)

    def rendered_project_path(self, setup: ProjectSetup) -> Path | None:
        return setup.path

    def node_operators(self, graph: Graph) -> Mapping[str, type[DbtTask]]:
        from dbt_spark_operator.runtime.local_operators import NODE_OPERATORS

        if graph is Graph.WATCHED_BUILD:
            from dbt_spark_operator.watcher.mirror import MIRRORS

            return {**NODE_OPERATORS, **MIRRORS}
        return NODE_OPERATORS

    def node_task(self, task: Any) -> None:
        return None

    def carry_result(self, task: Any) -> None:
        return None  # keep_run_results, Cosmos's callback, keeps it

    def build_producer(self, setup: ProjectSetup, node: str, **build_args: Any) -> BaseOperator:
        from dbt_spark_operator.watcher.build import DbtBuildProducer

        build = DbtBuildProducer(
            project_dir=str(setup.path), install_deps=False, **build_args, **self.operator_args(setup)
        )
        build.dbt_setup = setup
        return build

    def run_operation(self, setup: ProjectSetup, task_id: str, macro_name: str) -> BaseOperator:
        from dbt_spark_operator.runtime.local_operators import DbtRunOperationLocalOperator

        task = DbtRunOperationLocalOperator(
            task_id=task_id,
            macro_name=macro_name,
            project_dir=str(setup.path),
            profile_config=setup.profile,
            install_deps=False,
            **self.operator_args(setup),
        )
        task.dbt_setup = setup
        return task

    def apply_connection(self, setup: ProjectSetup, task: Any, rendered: RenderedProfile) -> None:
        """One of the nine operators gets it in its pod, whose command runs here with the password from
        ``rendered`` (:meth:`run_pod_command`); a Cosmos local operator as its profile, which Cosmos writes
        as it is, the password in dbt's process env only."""
        if builds_pod(task):
            setup.add_connection_to_pod(task, rendered)
        else:
            task.profile_config = setup.local_profile_config(rendered)

    def run_pod_command(self, task: PodCommandTask, context: Any) -> tuple[Any, str | None]:
        return task.run_as_local_process(context)

    def stop_pod_command(self, task: PodCommandTask) -> None:
        task.stop_local_process()
