"""What every task of one dbt project shares, resolved and checked at DAG parse: execution, paths, the
profile mapping (the connection itself is read when a task runs), the pod settings and the user's
operator arguments (an argument neither the dbt operators nor KubernetesPodOperator take is an error).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml
from cosmos import ProfileConfig
from cosmos.operators.base import AbstractDbtBase

from dbt_spark_operator import compat
from dbt_spark_operator.assets import AssetEventsAtEnd, keep_run_results
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.profile import KyuubiProfileMapping
from dbt_spark_operator.project import packages_dir, project_dir
from dbt_spark_operator.provider import DEFAULT_CONN_ID

if TYPE_CHECKING:  # local execution never imports the Kubernetes provider or client (0.6 s a task
    # process): the pod modules are imported where a pod is built
    from dbt_spark_operator.pod import PodSettings

Execution = Literal["kubernetes", "local"]
"""Where dbt runs: ``"kubernetes"``, a pod per task; ``"local"``, in the Airflow worker."""
EXECUTIONS: tuple[Execution, ...] = get_args(Execution)
GroupExecution = Literal["kubernetes", "local", "watcher", "watcher_kubernetes"]
"""How a task group runs its nodes: a task (pod) each, or one ``dbt build`` mirrored by a task per node
(:mod:`~dbt_spark_operator.watcher`): ``"watcher"`` builds in the worker, ``"watcher_kubernetes"`` in one
pod."""
GROUP_EXECUTIONS: tuple[GroupExecution, ...] = get_args(GroupExecution)


def default_execution() -> str:
    """``DBT_SPARK_EXECUTION`` (kubernetes, local, watcher or watcher_kubernetes), else kubernetes."""
    return os.environ.get("DBT_SPARK_EXECUTION") or "kubernetes"


def group_execution_of(value: str | None) -> GroupExecution:
    """``value`` (default :func:`default_execution`) as a :data:`GroupExecution`, or one clear error."""
    execution = value or default_execution()
    for known in GROUP_EXECUTIONS:
        if execution == known:
            return known
    raise DbtSparkOperatorError(f"execution must be {', '.join(GROUP_EXECUTIONS)}, got {execution!r}")


def execution_of(value: str | None) -> Execution:
    """Where one dbt command runs: ``value`` (default :func:`default_execution`); a watcher execution
    runs a single command where its build runs (``watcher`` in the worker, ``watcher_kubernetes`` in a
    pod): one command is one dbt process already. Anything else is one clear error."""
    execution = group_execution_of(value)
    if execution == "watcher":
        return "local"
    if execution == "watcher_kubernetes":
        return "kubernetes"
    return execution


@functools.cache
def _accepted_args(execution: Execution) -> frozenset[str]:
    """Every argument the operators of ``execution`` take."""
    operator: type
    if execution == "kubernetes":
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

        operator = KubernetesPodOperator
    else:
        from cosmos.operators.local import DbtLocalBaseOperator

        operator = DbtLocalBaseOperator
    return compat.operator_arguments((operator, AbstractDbtBase))


@functools.cache
def precompute_init_signatures() -> None:
    """Cosmos reads the signature of every KubernetesPodOperator class for every task it builds: give
    them a precomputed one (:func:`compat.precompute_init_signatures`)."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    compat.precompute_init_signatures((KubernetesPodOperator, AbstractDbtBase))


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


def check_operator_args(operator_args: Mapping[str, Any], execution: Execution) -> None:
    """Cosmos drops operator arguments it does not know; reject them instead, naming the key."""
    for key in operator_args:
        if key in POD_SETTINGS:
            setting = POD_SETTINGS[key]
            raise DbtSparkOperatorError(
                f"operator argument {key!r} would replace the dbt pod's own: "
                + (f"use PodSettings({setting}=...)" if setting else "the pod's command is the package's")
            )
        if key not in _accepted_args(execution):
            raise DbtSparkOperatorError(
                f"unknown operator argument {key!r} ({execution} execution): "
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

    @cached_property
    def pod_settings(self) -> PodSettings:
        """The pod settings (local execution runs the pod's argv and env as a local process)."""
        from dbt_spark_operator.pod import PodSettings

        pod = self.pod or PodSettings()
        if self.execution == "local" and pod.password_secret is None:  # resolved from the connection
            pod = pod.with_(password_secret=("local-connection", "password"))
        return pod

    @cached_property
    def pod_args(self) -> dict[str, Any]:
        """The pod every task gets, without what the connection adds when the task runs."""
        return self.pod_settings.operator_args(self.path.name)

    @property
    def pod_project_dir(self) -> str:
        from dbt_spark_operator.pod import PROJECTS_MOUNT

        return f"{PROJECTS_MOUNT}/{self.path.name}"

    @property
    def local_operator_args(self) -> dict[str, Any]:
        """Cosmos local operators' arguments: dbt finds the packages the deps task installed and writes
        its artifacts in the task's own copy of the project, which the task reads for its asset event
        (Cosmos's own OpenLineage assets are off: :mod:`~dbt_spark_operator.assets` names them)."""
        env = {
            "DBT_PACKAGES_DIR": str(packages_dir(self.path.name)),
            "DBT_TARGET_PATH": "target",  # in the task's copy of the project, never shared between tasks
            **self.operator_args.get("env", {}),
        }
        callbacks = self.operator_args.get("callback") or []
        callbacks = [*(callbacks if isinstance(callbacks, list) else [callbacks]), keep_run_results]
        return {
            "emit_datasets": False,  # dbt_task_group sets it for its tasks (RenderConfig)
            **self.operator_args,
            "env": env,
            "callback": callbacks,
            "pre_execute": self.at_run,
            "post_execute": self.at_end,
        }

    @property
    def kubernetes_operator_args(self) -> dict[str, Any]:
        """Cosmos Kubernetes operators' arguments: the pod, the user's extra arguments, the run-time hooks."""
        return {
            **self.pod_args,
            **self.operator_args,
            "pre_execute": self.at_run,
            "post_execute": self.at_end,
        }

    @cached_property
    def at_run(self) -> ConnectionAtRun:
        return ConnectionAtRun(self.operator_args.get("pre_execute"))

    @cached_property
    def at_end(self) -> AssetEventsAtEnd:
        return AssetEventsAtEnd(self.operator_args.get("post_execute"))

    def profile_yaml(self) -> str:
        """The dbt profile from the connection, validated (reads the connection: never at DAG parse)."""
        names = (self.profile.profile_name, self.profile.target_name)
        profile: str = self.mapping.get_profile_file_contents(*names)
        return profile

    def apply_connection(self, task: Any, check_endpoint: bool = True) -> None:
        """Read and check the connection for ``task``; a pod-based task gets the rendered profile and, when
        the connection has a password, the Secret reference that carries it into the pod. Call it after
        Airflow rendered the task's templates (``pre_execute`` is): the profile holds dbt's own Jinja.

        ``check_endpoint``: one handshake with the server first (:meth:`KyuubiProfileMapping.
        check_endpoint`): a refused login or a TLS mismatch fails the task at once, where dbt would retry
        it as if the network had failed (``retry_all``), minutes per task."""
        profile_yaml = self.profile_yaml()
        if check_endpoint:
            self.mapping.check_endpoint()
        if not hasattr(task, "build_pod_request_obj"):  # a Cosmos local operator renders its own
            return
        password_env = self.mapping.password_env_var() if self.mapping.password else None
        env, secrets = self.pod_settings.connection_env(profile_yaml, password_env)
        task.env_vars = [e for e in task.env_vars or [] if e.name != env.name] + [env]
        targets = {secret.deploy_target for secret in secrets}
        task.secrets = [s for s in task.secrets or [] if s.deploy_target not in targets] + secrets

    @property
    def secret_env(self) -> dict[str, str]:
        """The env a pod gets from its Secrets, with their values from the connection, by variable name:
        local execution runs the pod's command with it (pods get Secret references)."""
        return self.mapping.env_vars


@dataclass(frozen=True)
class ConnectionAtRun:
    """``pre_execute`` of every dbt task: the Kyuubi connection is read when the task runs, before dbt
    starts or the pod is built (:meth:`ProjectSetup.apply_connection`); then the user's own hook, if any.

    A task whose class sets ``connection_when_dbt_runs`` (a watcher's node task, which resumes in a
    worker mostly to record an asset event) reads it itself, only when it runs dbt."""

    then: Callable[[Any], Any] | None = None

    def __call__(self, context: Any) -> None:
        task = context["task"]
        if not getattr(task, "connection_when_dbt_runs", False):
            task.dbt_setup.apply_connection(task)
        if self.then is not None:
            self.then(context)


def project_setup(
    project: str | os.PathLike[str],
    *,
    execution: GroupExecution | None = None,
    conn_id: str = DEFAULT_CONN_ID,
    profile_name: str | None = None,
    target_name: str = "kyuubi",
    profile_args: Mapping[str, Any] | None = None,
    pod: PodSettings | None = None,
    operator_args: Mapping[str, Any] | None = None,
) -> ProjectSetup:
    """Resolve and check a project's paths, profile arguments and pod settings, one clear error for each
    bad input; the connection itself is not read (see :meth:`ProjectSetup.apply_connection`)."""
    checked = execution_of(execution)
    path = project_dir(project)
    project_yml = yaml.safe_load((path / "dbt_project.yml").read_text())
    project_name = project_yml["name"]
    args = dict(operator_args or {})
    check_operator_args(args, checked)

    mapping = KyuubiProfileMapping(conn_id, dict(profile_args or {}))  # checks profile_args
    profile_name = profile_name or project_yml.get("profile") or project_name
    profile = ProfileConfig(profile_name=profile_name, target_name=target_name, profile_mapping=mapping)
    setup = ProjectSetup(checked, path, project_name, mapping, profile, args, pod)
    if checked == "kubernetes" or pod is not None:
        setup.pod_args  # noqa: B018 -- checks the pod settings now, at DAG parse
    return setup
