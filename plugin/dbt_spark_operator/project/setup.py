"""What every task of one dbt project shares, resolved and checked at DAG parse: execution, paths, the
profile mapping (the connection itself is read when a task runs), the pod settings and the user's
operator arguments (an argument neither the dbt operators nor KubernetesPodOperator take is an error).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from cosmos import ProfileConfig

from dbt_spark_operator.connection import endpoint
from dbt_spark_operator.connection.profile import (
    KyuubiProfileMapping,
    RenderedProfile,
    RenderedProfileMapping,
)
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.execution import Execution, ExecutionName, Runtime
from dbt_spark_operator.graph import dbt_task
from dbt_spark_operator.graph.assets import AssetEventsAtEnd
from dbt_spark_operator.project.config import DbtProject, KyuubiProfile
from dbt_spark_operator.runtime import DbtRuntime, runtime_for

if TYPE_CHECKING:  # local execution never imports the Kubernetes provider or client (0.6 s a task
    # process): the pod modules are imported where a pod is built
    from dbt_spark_operator.pod.settings import PodSettings

# The dbt pod's own settings: given as operator arguments they would replace, not extend, the pod's.
POD_SETTINGS = {
    "image": "image",
    "image_pull_policy": "image_pull_policy",
    "namespace": "namespace",
    "service_account_name": "service_account_name",
    "volumes": "extra_volumes",
    "volume_mounts": "extra_volume_mounts",
    "env_vars": "env",
    "container_resources": "resources",
    "labels": "labels",
    "cmds": None,
    "arguments": None,
    "secrets": "password_secret",
    "security_context": "run_as_user",
    "container_security_context": None,
    "xcom_sidecar_container_security_context": None,
}


def check_operator_args(operator_args: Mapping[str, Any], runtime: Runtime) -> None:
    """Cosmos drops operator arguments it does not know; reject them instead, naming the key."""
    for key in operator_args:
        if key in POD_SETTINGS:
            setting = POD_SETTINGS[key]
            raise DbtSparkOperatorError(
                f"operator argument {key!r} would replace the dbt pod's own: "
                + (f"use PodSettings({setting}=...)" if setting else "the pod's command is the package's")
            )
        if key not in runtime_for(runtime).accepted_args():
            raise DbtSparkOperatorError(
                f"unknown operator argument {key!r} ({runtime.value} execution): "
                "neither the dbt operators nor KubernetesPodOperator take it"
            )


@dataclass(frozen=True)
class ProjectSetup:
    """What every task of one project shares: paths, profile, pod arguments. Built at DAG parse, where
    everything that needs no connection is checked; the connection is read when a task runs
    (:meth:`apply_connection`)."""

    execution: Execution
    path: Path
    project_name: str
    mapping: KyuubiProfileMapping
    profile: ProfileConfig
    operator_args: dict[str, Any]  # the user's extra operator arguments, checked
    pod: PodSettings | None

    @property
    def runtime(self) -> DbtRuntime:
        """Where the project's dbt runs."""
        return runtime_for(self.execution.runtime)

    @cached_property
    def pod_settings(self) -> PodSettings:
        """The pod settings (local execution runs the pod's argv and env as a local process)."""
        return self.runtime.pod_settings(self.pod)

    @cached_property
    def pod_args(self) -> dict[str, Any]:
        """The pod every task gets, without what the connection adds when the task runs."""
        return self.pod_settings.operator_args(self.path.name)

    @property
    def pod_project_dir(self) -> str:
        from dbt_spark_operator.pod.settings import PROJECTS_MOUNT

        return f"{PROJECTS_MOUNT}/{self.path.name}"

    @property
    def cosmos_operator_args(self) -> dict[str, Any]:
        """The arguments of the project's Cosmos operators (:meth:`DbtRuntime.operator_args`)."""
        return self.runtime.operator_args(self)

    @cached_property
    def at_run(self) -> ConnectionAtRun:
        return ConnectionAtRun(self.operator_args.get("pre_execute"))

    @cached_property
    def at_end(self) -> AssetEventsAtEnd:
        return AssetEventsAtEnd(self.operator_args.get("post_execute"))

    def read_connection(self, check_endpoint: bool = True) -> RenderedProfile:
        """The connection read now, once for the task run that asks: the profile rendered from it, with
        the password for dbt's env (:meth:`KyuubiProfileMapping.read`). Never kept here: a task run reads
        the connection as it is then.

        ``check_endpoint``: one handshake with the server first (:func:`~dbt_spark_operator.connection.
        endpoint.check_endpoint`): a refused login or a TLS mismatch fails the task at once, where dbt
        would retry it as if the network had failed (``retry_all``), minutes per task."""
        rendered = self.mapping.read(self.profile.profile_name, self.profile.target_name)
        if check_endpoint:
            endpoint.check_endpoint(rendered.endpoint, rendered.conn_id)
        return rendered

    def apply_connection(self, task: Any, check_endpoint: bool = True) -> RenderedProfile:
        """Read and check the connection for ``task``, one of the project's tasks, and hand the profile to
        where the task runs dbt (:meth:`DbtRuntime.apply_connection`); returns it. Call it once per task
        run, after Airflow rendered the task's templates (``pre_execute`` is): the profile holds dbt's own
        Jinja."""
        rendered = self.read_connection(check_endpoint)
        self.runtime.apply_connection(self, task, rendered)
        return rendered

    def add_connection_to_pod(self, task: Any, rendered: RenderedProfile) -> None:
        """The rendered profile and, when the connection has a password, the Secret reference that carries
        it, in ``task``'s pod."""
        env, secrets = self.pod_settings.connection_env(rendered.yaml, rendered.password_env_var)
        task.env_vars = [e for e in task.env_vars or [] if e.name != env.name] + [env]
        targets = {secret.deploy_target for secret in secrets}
        task.secrets = [s for s in task.secrets or [] if s.deploy_target not in targets] + secrets

    def local_profile_config(self, rendered: RenderedProfile) -> ProfileConfig:
        """The profile of a Cosmos local operator for one task run: ``rendered`` as it is (Cosmos writes
        its YAML and puts the password in dbt's process env only, :class:`RenderedProfileMapping`)."""
        return ProfileConfig(
            profile_name=rendered.profile_name,
            target_name=rendered.target_name,
            profile_mapping=RenderedProfileMapping(rendered),
        )


@dataclass(frozen=True)
class ConnectionAtRun:
    """``pre_execute`` of every dbt task: the Kyuubi connection is read when the task runs, once, before
    dbt starts or the pod is built (:meth:`ProjectSetup.apply_connection`); then the user's own hook, if
    any.

    A task whose class sets ``connection_when_dbt_runs`` (a watcher's node task, which resumes in a
    worker mostly to record an asset event) reads it itself, only when it runs dbt."""

    then: Callable[[Any], Any] | None = None

    def __call__(self, context: Any) -> None:
        task = dbt_task.require_dbt_task(context["task"])
        if not task.connection_when_dbt_runs:
            task.require_setup().apply_connection(task)
        if self.then is not None:
            self.then(context)


def project_setup(
    project: DbtProject,
    profile: KyuubiProfile,
    *,
    execution: ExecutionName | Execution | None = None,
    pod: PodSettings | None = None,
    operator_args: Mapping[str, Any] | None = None,
) -> ProjectSetup:
    """Resolve and check what the tasks of ``project`` share, one clear error for each bad input; the
    connection of ``profile`` is not read (see :meth:`ProjectSetup.apply_connection`)."""
    checked = Execution.parse(execution)
    path = project.path
    project_yml = yaml.safe_load((path / "dbt_project.yml").read_text())
    project_name = project_yml["name"]
    args = dict(operator_args or {})
    check_operator_args(args, checked.runtime)

    mapping = profile.mapping()
    profile_name = profile.profile_name or project_yml.get("profile") or project_name
    profile_config = ProfileConfig(
        profile_name=profile_name, target_name=profile.target_name, profile_mapping=mapping
    )
    setup = ProjectSetup(checked, path, project_name, mapping, profile_config, args, pod)
    setup.runtime.check_at_parse(setup)
    return setup
