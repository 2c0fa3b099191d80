"""The nine dbt command operators: one base, small subclasses.

Each builds the dbt argv from the flag table (``flags.py``) and a pod through Cosmos's Kubernetes
operators and ``KubernetesPodOperator``. Kubernetes execution runs that pod; local execution runs the
same command, arguments and environment as a local process. Either way the task logs and returns (XCom)
a compact summary of dbt's result artifact; failed nodes fail the task, warned nodes are logged as
warnings with their names.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from cosmos.operators.kubernetes import (
    DbtDocsKubernetesOperator,
    DbtKubernetesBaseOperator,
    DbtRunKubernetesOperator,
    DbtSeedKubernetesOperator,
    DbtSnapshotKubernetesOperator,
    DbtSourceKubernetesOperator,
    DbtTestKubernetesOperator,
)
from kubernetes.client import models as k8s

from dbt_spark_operator import deprecations
from dbt_spark_operator.commands import OPERATOR_NAMES
from dbt_spark_operator.commands.flags import COMMAND_FLAGS, argv, check_flags, vars_mapping
from dbt_spark_operator.connection.profile import RenderedProfile
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.execution import Execution, ExecutionName, Runtime
from dbt_spark_operator.pod.settings import ARTIFACT_ENV, DOCS_DAG_ENV, STATE_MOUNT, PodSettings, name_pod
from dbt_spark_operator.pod.task import PodTaskMixin
from dbt_spark_operator.process_group import stop_group
from dbt_spark_operator.project.config import DbtProject, KyuubiProfile, configs, flat_keywords
from dbt_spark_operator.project.setup import ProjectSetup, check_operator_args, project_setup
from dbt_spark_operator.results import describe, summarize
from dbt_spark_operator.runtime.local_process import run_locally

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DbtSparkOperator(PodTaskMixin, DbtKubernetesBaseOperator):
    """Run one dbt command against Kyuubi, in a pod or as a local process with the same argv and env.

    :param project: a :class:`~dbt_spark_operator.DbtProject`, or a project name under
        ``DBT_SPARK_PROJECTS_DIR``, or a path
    :param profile: a :class:`~dbt_spark_operator.KyuubiProfile` (default ``KyuubiProfile()``): the
        Airflow ``kyuubi`` connection, profile and target names, ``profile_args``; its fields are taken
        flat too (``conn_id=``, ``profile_name=``, ``target_name=`` (``target`` is its deprecated
        spelling), ``profile_args=``), one given beside ``profile`` is an error
    :param execution: ``"kubernetes"`` or ``"local"`` (default ``$DBT_SPARK_EXECUTION``, else kubernetes;
        one command is one dbt process already: ``"watcher"`` there runs it locally,
        ``"watcher_kubernetes"`` in a pod), or an :class:`~dbt_spark_operator.execution.Execution`
    :param target: ``target_name`` (deprecated)
    :param pod: :class:`~dbt_spark_operator.pod.settings.PodSettings` of the pod (and of the local process)
    :param select: ``--select``, one selector or several (templated)
    :param exclude: ``--exclude`` (templated)
    :param selector: ``--selector``, a YAML selector of the project
    :param vars: ``--vars``, a dict or a YAML/JSON string (templated); invalid YAML, or YAML that is not
        a mapping, is an error at DAG parse (a templated string once rendered)
    :param threads: ``--threads``
    :param full_refresh: ``--full-refresh``
    :param store_failures: ``--store-failures``
    :param empty: ``--empty``
    :param fail_fast: ``--fail-fast``
    :param warn_error: ``--warn-error``
    :param dbt_flags: more dbt arguments, passed as they are (templated)
    :param kwargs: ``KubernetesPodOperator`` arguments (``retries``, ``pool``...); one that would replace
        the pod's own settings is an error naming the ``PodSettings`` field to use instead

    The dbt flags are taken only by the commands that accept them (dbt-core's own table, ``flags.py``):
    another is an error at DAG parse.
    """

    command: ClassVar[str] = ""
    artifact: ClassVar[str] = "run_results.json"
    labels: dict[str, str]
    env_vars: list[k8s.V1EnvVar]
    template_fields: Sequence[str] = (*DbtKubernetesBaseOperator.template_fields, "flag_values", "dbt_flags")
    template_fields_renderers = {**KubernetesPodOperator.template_fields_renderers, "flag_values": "json"}
    _local_process: subprocess.Popen[str] | None = None  # run_as_local_process's, for on_kill
    dbt_setup: ProjectSetup  # set when the operator is built
    _connection: RenderedProfile | None = None  # what execute read, for the local process's env

    @flat_keywords
    def __init__(
        self,
        *,
        project: DbtProject | str | Path | None = None,
        profile: KyuubiProfile | None = None,
        execution: ExecutionName | Execution | None = None,
        target: str | None = None,
        pod: PodSettings | None = None,
        select: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        selector: str | None = None,
        vars: Mapping[str, Any] | str | None = None,  # noqa: A002 - dbt's name
        threads: int | None = None,
        full_refresh: bool = False,
        store_failures: bool = False,
        empty: bool = False,
        fail_fast: bool = False,
        warn_error: bool = False,
        dbt_flags: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        if self.command not in COMMAND_FLAGS:
            raise DbtSparkOperatorError(
                f"{type(self).__name__} names no dbt command: use one of the nine operators"
            )
        flag_values = {
            "select": select,
            "exclude": exclude,
            "selector": selector,
            "vars": vars,
            "threads": threads,
            "full_refresh": full_refresh,
            "store_failures": store_failures,
            "empty": empty,
            "fail_fast": fail_fast,
            "warn_error": warn_error,
        }
        flag_values = {k: v for k, v in flag_values.items() if v not in (None, False, "", [], ())}
        check_flags(self.command, flag_values)
        if isinstance(vars, str) and "{{" not in vars or isinstance(vars, Mapping):
            vars_mapping(vars)  # invalid YAML is a parse-time error; templated vars are checked when rendered
        where = type(self).__name__
        if target is not None:
            kwargs["target_name"] = deprecations.renamed(
                where, "target", "target_name", target, kwargs.get("target_name")
            )
        dbt_project, kyuubi = configs(where, project, profile, kwargs)
        check_operator_args(kwargs, Runtime.KUBERNETES)  # the pod is built in both executions
        setup = project_setup(dbt_project, kyuubi, execution=execution, pod=pod)
        # do_xcom_push: the summary is the return value; in a pod the sidecar carries the artifact back.
        pod_args = {**setup.pod_args, "do_xcom_push": True, **kwargs}
        pod_args["env_vars"] = [*pod_args["env_vars"], k8s.V1EnvVar(name=ARTIFACT_ENV, value=self.artifact)]
        super().__init__(project_dir=setup.pod_project_dir, profile_config=setup.profile, **pod_args)
        name_pod(self, self.task_id, self.command)
        self.dbt_setup = setup
        self.flag_values = flag_values
        self.dbt_flags = list(dbt_flags)

    @property
    def base_cmd(self) -> list[str]:  # what Cosmos puts after "dbt"
        return self.command.split()

    def add_cmd_flags(self) -> list[str]:
        """The command's flags, from the flag table only (Cosmos's own flag attributes stay unset)."""
        return argv(self.command, self.flag_values) + list(self.dbt_flags)

    def execute(self, context: Any) -> dict[str, Any]:
        # The connection is read now, once for this run, never at DAG parse: into the pod, and kept for
        # the pod's command as a local process (run_as_local_process).
        self._connection = self.dbt_setup.apply_connection(self)
        self.build_kube_args(context, self.add_cmd_flags())
        artifact, failed_run = self.dbt_setup.runtime.run_pod_command(self, context)
        summary = summarize(artifact if isinstance(artifact, Mapping) else None)
        nodes = json.dumps(summary["nodes"], indent=1, default=str)
        self.log.info("dbt %s: %s\n%s", self.command, describe(summary), nodes)
        if summary["warned"]:
            self.log.warning("dbt %s warned on: %s", self.command, ", ".join(summary["warned"]))
        if failed_run is not None or summary["failed"]:
            names = ", ".join(summary["failed"]) or failed_run
            raise DbtSparkOperatorError(f"dbt {self.command} failed: {names}")
        return summary

    def run_as_local_process(self, context: Any) -> tuple[dict[str, Any] | None, str | None]:
        """The pod's command as a local process: dbt's artifact, and why it failed (None if it did not).

        :param context: the task's Airflow context
        """
        if self._connection is None:
            raise DbtSparkOperatorError(
                f"task {self.task_id!r} runs its pod's command before reading the connection"
            )
        pod = self.build_pod_request_obj(context, dry_run=True)
        self.log.info("Running the pod's command locally: %s", pod.spec.containers[0].args)
        last: deque[str] = deque(maxlen=1)

        def on_line(line: str) -> None:
            self.log.info("%s", line)
            if text := ANSI.sub("", line).strip():
                last.append(text)

        with tempfile.TemporaryDirectory(prefix="dbt-spark-") as workdir:
            rc, _ = run_locally(
                pod,
                Path(workdir),
                self._connection.secret_env,  # the pod's Secret reference, resolved here
                on_line,
                on_start=self._started,
                project=self.dbt_setup.path,
            )
            # What the pod's script handed to the XCom sidecar, as in a cluster.
            path = Path(workdir) / "xcom" / "return.json"
            artifact = json.loads(path.read_text()) if path.is_file() else None
        return artifact, (f"exit code {rc}: {last[0] if last else 'no output'}" if rc else None)

    def _started(self, process: subprocess.Popen[str]) -> None:
        self._local_process = process

    def on_kill(self) -> None:
        """Airflow stops the task: delete the pod, or stop the local process group (dbt included)."""
        self.dbt_setup.runtime.stop_pod_command(self)

    def stop_pod(self) -> None:
        """Delete the task's pod (KubernetesPodOperator's ``on_kill``)."""
        super().on_kill()

    def stop_local_process(self) -> None:
        """Stop the local process group of :meth:`run_as_local_process`, if it started."""
        if (process := self._local_process) is not None:
            stop_group(process.pid, proc=process)  # through its Popen, which keeps its exit code


class DbtSparkRunOperator(DbtSparkOperator, DbtRunKubernetesOperator):
    """``dbt run``.

    :param models: another name for ``select``
    :param kwargs: the arguments of :class:`DbtSparkOperator`
    """

    command = "run"

    def __init__(self, *, models: str | Sequence[str] | None = None, **kwargs: Any) -> None:
        if models is not None and kwargs.get("select") is not None:
            raise DbtSparkOperatorError("give models or select, not both (models is select)")
        super().__init__(select=models if models is not None else kwargs.pop("select", None), **kwargs)


class DbtSparkTestOperator(DbtSparkOperator, DbtTestKubernetesOperator):
    """``dbt test``; failing tests fail the task, tests with warn severity are logged as warnings."""

    command = "test"


class DbtSparkSeedOperator(DbtSparkOperator, DbtSeedKubernetesOperator):
    """``dbt seed``."""

    command = "seed"


class DbtSparkSnapshotOperator(DbtSparkOperator, DbtSnapshotKubernetesOperator):
    """``dbt snapshot``."""

    command = "snapshot"


class DbtSparkCompileOperator(DbtSparkOperator):
    """``dbt compile``."""

    command = "compile"


class DbtSparkDebugOperator(DbtSparkOperator):
    """``dbt debug``: profile, project and the connection to Kyuubi ("All checks passed!")."""

    command = "debug"


class DbtSparkDepsOperator(DbtSparkOperator):
    """``dbt deps``: the project's packages into the shared state volume, for every later task."""

    command = "deps"


class DbtSparkFreshnessOperator(DbtSparkOperator, DbtSourceKubernetesOperator):
    """``dbt source freshness``: error thresholds fail the task, warn thresholds are logged as warnings."""

    command = "source freshness"
    artifact = "sources.json"


class DbtSparkDocsOperator(DbtSparkOperator, DbtDocsKubernetesOperator):
    """``dbt docs generate`` into the shared state volume (``docs/<project>``), which the Airflow plugin
    serves at ``/dbt-docs/<project>/``.

    :param kwargs: the arguments of :class:`DbtSparkOperator`
    """

    command = "docs generate"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        target = f"{STATE_MOUNT}/docs/{self.dbt_setup.path.name}"
        self.env_vars = [e for e in self.env_vars if e.name != "DBT_TARGET_PATH"]
        self.env_vars.append(k8s.V1EnvVar(name="DBT_TARGET_PATH", value=target))

    def execute(self, context: Any) -> dict[str, Any]:
        # The pod's script records this DAG beside the site: the docs page serves it to its readers.
        self.env_vars = [e for e in self.env_vars if e.name != DOCS_DAG_ENV]
        self.env_vars.append(k8s.V1EnvVar(name=DOCS_DAG_ENV, value=self.dag_id))
        return super().execute(context)


OPERATORS: tuple[type[DbtSparkOperator], ...] = tuple(globals()[name] for name in OPERATOR_NAMES)
