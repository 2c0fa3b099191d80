"""``dbt_task_group``: a dbt project as a Cosmos ``DbtTaskGroup``, one task (one pod) per dbt node.

Parsing needs the project's ``target/manifest.json`` (``dbt-spark-operator manifest PROJECT``; the
fallback runs that same ``dbt deps`` and ``dbt parse`` once when it is missing), never a JVM, an engine
or a cluster.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import inspect
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import yaml
from airflow.sdk import BaseOperator, TaskGroup
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import DbtResourceType, ExecutionMode, LoadMode, SourceRenderingBehavior, TestBehavior
from cosmos.dbt.graph import DbtNode
from cosmos.operators.base import AbstractDbtBase

from dbt_spark_operator import compat
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.profile import DEFAULT_CONN_ID, KyuubiProfileMapping
from dbt_spark_operator.project import packages_dir, project_dir, write_manifest

if TYPE_CHECKING:  # local execution never imports the Kubernetes provider or client (0.6 s a task
    # process): the pod modules are imported where a pod is built
    from dbt_spark_operator.pod import PodSettings

log = logging.getLogger(__name__)

EXECUTIONS = ("kubernetes", "local")
# Airflow takes task ids of up to 250 characters, group ids in front included: a test's own part stays
# within 200 (dbt names a test after its arguments, or a singular test after its file, at any length).
MAX_TEST_ID = 200
META_KEY = "dbt_spark_operator"  # dbt meta: {dbt_spark_operator: {resources: {requests: ..., limits: ...}}}


def default_execution() -> str:
    """``DBT_SPARK_EXECUTION`` (kubernetes or local), else kubernetes."""
    return os.environ.get("DBT_SPARK_EXECUTION") or "kubernetes"


@functools.cache
def _accepted_args(execution: str) -> frozenset[str]:
    """Every argument the operators of ``execution`` take."""
    if execution == "kubernetes":
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator as operator
    else:
        from cosmos.operators.local import DbtLocalBaseOperator as operator
    names: set[str] = set()
    for cls in (operator, AbstractDbtBase):
        for klass in cls.__mro__:
            if klass is object:
                continue
            names.update(inspect.signature(klass.__init__).parameters)
            if klass is BaseOperator:
                break
    return frozenset(names - {"self", "args", "kwargs"})


@functools.cache
def _precompute_init_signatures() -> None:
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


def check_operator_args(operator_args: Mapping[str, Any], execution: str) -> None:
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


def _manifest(project: Path, manifest: str | os.PathLike[str] | None, target_name: str) -> Path:
    if manifest is not None:
        path = Path(manifest)
        if not path.is_file():
            raise DbtSparkOperatorError(
                f"dbt manifest {path} does not exist: run 'dbt-spark-operator manifest'"
            )
        return path
    path = project / "target" / "manifest.json"
    if not path.is_file():
        if not os.access(project, os.W_OK):  # a read-only projects volume or checkout
            raise DbtSparkOperatorError(
                f"dbt manifest {path} is missing and {project} is read-only: publish the project with "
                "its manifest ('dbt-spark-operator bundle') or pass manifest="
            )
        log.warning("no manifest at %s: running dbt parse once (ship it with the project instead)", path)
        path = write_manifest(project, target_name)
    return path


@dataclass(frozen=True)
class ProjectSetup:
    """What every task of one project shares: paths, profile, pod arguments. Built at DAG parse, where
    everything that needs no connection is checked; the connection is read when a task runs
    (:meth:`apply_connection`)."""

    execution: str
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
        """Cosmos local operators' arguments: dbt finds the packages the deps task installed."""
        env = {"DBT_PACKAGES_DIR": str(packages_dir(self.path.name)), **self.operator_args.get("env", {})}
        return {**self.operator_args, "env": env, "pre_execute": self.at_run}

    @property
    def kubernetes_operator_args(self) -> dict[str, Any]:
        """Cosmos Kubernetes operators' arguments: the pod, the user's extra arguments, the run-time hook."""
        return {**self.pod_args, **self.operator_args, "pre_execute": self.at_run}

    @cached_property
    def at_run(self) -> ConnectionAtRun:
        return ConnectionAtRun(self.operator_args.get("pre_execute"))

    def profile_yaml(self) -> str:
        """The dbt profile from the connection, validated (reads the connection: never at DAG parse)."""
        return self.mapping.get_profile_file_contents(self.profile.profile_name, self.profile.target_name)

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
    def secrets(self) -> dict[str, str]:
        """Secret env values for local execution (from the connection; pods get Secret references)."""
        return self.mapping.env_vars


@dataclass(frozen=True)
class ConnectionAtRun:
    """``pre_execute`` of every dbt task: the Kyuubi connection is read when the task runs, before dbt
    starts or the pod is built (:meth:`ProjectSetup.apply_connection`); then the user's own hook, if any."""

    then: Callable[[Any], Any] | None = None

    def __call__(self, context: Any) -> None:
        task = context["task"]
        task.dbt_setup.apply_connection(task)
        if self.then is not None:
            self.then(context)


def project_setup(
    project: str | os.PathLike[str],
    execution: str | None = None,
    conn_id: str = DEFAULT_CONN_ID,
    profile_name: str | None = None,
    target_name: str = "kyuubi",
    profile_args: Mapping[str, Any] | None = None,
    pod: PodSettings | None = None,
    operator_args: Mapping[str, Any] | None = None,
) -> ProjectSetup:
    """Resolve and check a project's paths, profile arguments and pod settings, one clear error for each
    bad input; the connection itself is not read (see :meth:`ProjectSetup.apply_connection`)."""
    execution = execution or default_execution()
    if execution not in EXECUTIONS:
        raise DbtSparkOperatorError(f"execution must be kubernetes or local, got {execution!r}")
    path = project_dir(project)
    project_yml = yaml.safe_load((path / "dbt_project.yml").read_text())
    project_name = project_yml["name"]
    args = dict(operator_args or {})
    check_operator_args(args, execution)

    mapping = KyuubiProfileMapping(conn_id, dict(profile_args or {}))  # checks profile_args
    profile_name = profile_name or project_yml.get("profile") or project_name
    profile = ProfileConfig(profile_name=profile_name, target_name=target_name, profile_mapping=mapping)
    setup = ProjectSetup(execution, path, project_name, mapping, profile, args, pod)
    if execution == "kubernetes" or pod is not None:
        setup.pod_args  # noqa: B018 -- checks the pod settings now, at DAG parse
    return setup


def _gc_paused(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``func`` with the cyclic garbage collector off. Building thousands of operators allocates
    millions of objects, and each full collection it triggers walks every object of the process."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled():
            return func(*args, **kwargs)
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper


@_gc_paused
def dbt_task_group(
    project: str | os.PathLike[str] = "analytics",
    *,
    group_id: str | None = None,
    execution: str | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    conn_id: str = DEFAULT_CONN_ID,
    profile_name: str | None = None,
    target_name: str = "kyuubi",
    profile_args: Mapping[str, Any] | None = None,
    pod: PodSettings | None = None,
    manifest: str | os.PathLike[str] | None = None,
    operator_args: Mapping[str, Any] | None = None,
    **task_group_args: Any,
) -> DbtTaskGroup:
    """A task group with one task per seed, model, snapshot and test of ``project``.

    Each model (seed, snapshot) is a group ``<name>`` holding its ``run`` (``seed``, ``snapshot``) task and
    one task per test of it; a test of two models is a task of its own once both exist.

    ``execution`` is ``"kubernetes"`` (one pod per task) or ``"local"`` (dbt in the worker), default from
    ``DBT_SPARK_EXECUTION``. The profile comes from the Airflow connection ``conn_id`` (type kyuubi or
    hiveserver2) through :class:`KyuubiProfileMapping`, with ``profile_args`` on top. Extra
    ``task_group_args`` go to the task group (``dag``, ``default_args``, ``tooltip``...).
    """
    setup = project_setup(
        project, execution, conn_id, profile_name, target_name, profile_args, pod, operator_args
    )
    kubernetes = setup.execution == "kubernetes"
    if kubernetes:
        _precompute_init_signatures()
    manifest_path = _manifest(setup.path, manifest, target_name)
    group_id = group_id or setup.project_name
    # Our own typed read of the manifest, at most once per call (Cosmos reads it too, for its own graph).
    parsed = functools.cache(functools.partial(_read_manifest, manifest_path))
    render_config = RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        select=running_task_selector(group_id, parsed) or list(select),
        exclude=list(exclude),
        test_behavior=TestBehavior.AFTER_EACH,
        # A source with tests or freshness is a task (dbt source freshness) with its tests after it.
        source_rendering_behavior=SourceRenderingBehavior.WITH_TESTS_OR_FRESHNESS,
        # A test of two models (relationships) runs once both exist, as a task of its own.
        should_detach_multiple_parents_tests=True,
    )
    tests = OneTaskPerTest(manifest_path, parsed, render_config)
    render_config.node_converters = {DbtResourceType.TEST: tests}
    project_config = ProjectConfig(
        # In Kubernetes execution the project path is the pod's (ExecutionConfig), not this host's.
        dbt_project_path=None if kubernetes else setup.path,
        manifest_path=manifest_path,
        project_name=setup.project_name,
        install_dbt_deps=False,  # the deps task installs packages once, for every task (DBT_PACKAGES_DIR)
    )
    # The manifest is a local file (checked above). Cosmos wraps it in Airflow's ObjectStoragePath, whose
    # first use loads every Airflow plugin (0.17 s of a parse); a plain Path is a type Cosmos takes too.
    project_config.manifest_path = manifest_path
    with compat.cosmos_detached_test_ids(detached_test_id):
        group = DbtTaskGroup(
            group_id=group_id,
            project_config=project_config,
            profile_config=setup.profile,
            execution_config=ExecutionConfig(
                execution_mode=ExecutionMode.KUBERNETES, dbt_project_path=setup.pod_project_dir
            )
            if kubernetes
            else ExecutionConfig(execution_mode=ExecutionMode.LOCAL),
            render_config=render_config,
            operator_args=setup.kubernetes_operator_args if kubernetes else setup.local_operator_args,
            **task_group_args,
        )
    if not group.children:
        raise DbtSparkOperatorError(
            f"select {list(select)} / exclude {list(exclude)} matches no node of dbt project "
            f"{setup.project_name}"
        )
    for task in _tasks(group):
        task.dbt_setup = setup  # what the run-time hook (ConnectionAtRun) reads
        if kubernetes:
            _per_node_pod_settings(task)
    return group


class _DependsOn(msgspec.Struct, frozen=True):
    nodes: list[str] = []


class _ManifestNode(msgspec.Struct):
    """The fields of a manifest node a test task needs; msgspec skips the rest without building it."""

    resource_type: str
    name: str
    original_file_path: str = ""
    package_name: str | None = None
    tags: list[str] = []
    config: dict[str, Any] = {}
    fqn: list[str] = []
    depends_on: _DependsOn = _DependsOn()


class _ManifestSource(msgspec.Struct):
    source_name: str
    name: str


class _Manifest(msgspec.Struct):
    nodes: dict[str, _ManifestNode]
    sources: dict[str, _ManifestSource] = {}


def _read_manifest(path: Path) -> _Manifest:
    """The manifest fields this module uses, typed: msgspec skips the rest (a fifth of json.loads's time
    for 2,000 nodes, bench/parse_bench.py)."""
    return msgspec.json.decode(path.read_bytes(), type=_Manifest)


def test_task_id(name: str, unique_id: str, suffix: str = "") -> str:
    """A test's task id: its dbt name and ``suffix``, or, beyond :data:`MAX_TEST_ID` characters, the
    name's start and a digest of its unique id. The same in every process (Cosmos numbers long names of
    tests of several models with a process-wide counter, ``detached_<n>_test``, which a task process
    that renders only its node does not reproduce)."""
    task_id = f"{name}{suffix}"
    if len(task_id) <= MAX_TEST_ID:
        return task_id
    digest = hashlib.sha256(unique_id.encode()).hexdigest()[:10]
    return f"{name[: MAX_TEST_ID - len(suffix) - len(digest) - 1]}_{digest}{suffix}"


def detached_test_id(test: DbtNode) -> str:
    """The task id of a test of several models (Cosmos: ``<name>_test``), of any name length."""
    return test_task_id(test.resource_name.split(".")[0], test.unique_id, "_test")


def running_task_selector(group_id: str, manifest: Callable[[], _Manifest]) -> list[str] | None:
    """In an Airflow task process, a dbt selector for only the node(s) whose tasks hold the running task.

    A task process parses its DAG file to find its one task; rendering the whole project there costs as
    much as the DAG processor's parse (1.4 s for 2,000 tasks), in every task. Airflow names the running
    task in its parsing context (``get_parsing_context()``); the task ids this package gives (see
    :func:`dbt_task_group`) lead back to a model or seed (``<group>.<name>.<task>``), a source
    (``<group>.<source>_<table>.<task>``), a snapshot (``<group>.<name>_snapshot``) or a test of two
    models (``<group>.<test>_test``). None anywhere else (DAG processor, ``airflow dags test``, a task
    outside this group, an id that leads nowhere): the whole project is rendered.
    """
    from airflow.sdk import get_parsing_context

    task_id = get_parsing_context().task_id
    if not task_id:
        return None
    head, found, rest = task_id.partition(f"{group_id}.")
    if not found or (head and not head.endswith(".")):
        return None
    parsed = manifest()
    name, dot, _ = rest.partition(".")
    for unique_id, node in parsed.nodes.items():
        kind = node.resource_type
        if dot and kind in ("model", "seed") and node.name == name:
            return [name]
        if not dot and kind == "snapshot" and rest == f"{node.name}_snapshot":
            return [node.name]
        if (
            not dot
            and kind == "test"
            and len(node.depends_on.nodes) > 1
            and rest == test_task_id(node.name, unique_id, "_test")
        ):
            parents = [parsed.nodes.get(parent) for parent in node.depends_on.nodes]
            if all(p is not None and p.resource_type in ("model", "seed", "snapshot") for p in parents):
                return [p.name for p in parents if p is not None]
            return None
    for source in parsed.sources.values():
        if dot and name == f"{source.source_name}_{source.name}":
            return [f"source:{source.source_name}.{source.name}"]
    return None


class OneTaskPerTest:
    """Cosmos node converter for tests: one task per dbt test instead of one per tested model.

    Cosmos calls it for each model's ``test`` task (``node`` is the model): it returns one task per test of
    the model, in the model's group after its run task, so the group's downstream waits for all of them.
    Cosmos also calls it for each test of several models (``task_id`` is ``<test name>_test``; ``node`` is
    then not the test, so the test is looked up by that id), which stays one task.
    """

    __name__ = "one_task_per_test"  # Cosmos logs converters by name

    def __init__(self, manifest: Path, parsed: Callable[[], _Manifest], render_config: RenderConfig) -> None:
        self.manifest = manifest
        self.parsed = parsed
        self.render_config = render_config
        self._by_parent: dict[str, list[DbtNode]] = {}
        self._detached: dict[str, DbtNode] = {}
        self._names: dict[str, str] = {}
        self._loaded = False

    def _load(self) -> None:
        """Index the manifest's tests (read on the first call only)."""
        # Cosmos does not hand the nodes it read to converters: our typed read of the manifest.
        for test_id, item in self.parsed().nodes.items():
            if item.resource_type != "test":
                continue
            test = DbtNode(
                unique_id=test_id,
                resource_type=DbtResourceType.TEST,
                depends_on=item.depends_on.nodes,
                path_base=self.manifest.parent.parent,
                original_file_path=Path(item.original_file_path),
                package_name=item.package_name,
                tags=item.tags,
                config=item.config,
                fqn=item.fqn,
            )
            self._names[test_id] = item.name
            if len(test.depends_on) == 1:
                self._by_parent.setdefault(test.depends_on[0], []).append(test)
            else:  # a test of several models: the id Cosmos asks for (compat.cosmos_detached_test_ids)
                self._detached[detached_test_id(test)] = test
        self._loaded = True

    def _task(self, task_id: str, test: DbtNode, dag: Any, task_group: Any, kwargs: dict) -> BaseOperator:
        return compat.cosmos_test_task(
            task_id,
            test=test,
            render_config=self.render_config,
            converter_kwargs=kwargs,
            dag=dag,
            task_group=task_group,
        )

    def __call__(
        self, *, dag: Any, task_group: Any, node: DbtNode, task_id: str, **kwargs: Any
    ) -> BaseOperator | list[BaseOperator]:
        if not self._loaded:
            self._load()
        if task_id in self._detached:
            return self._task(task_id, self._detached[task_id], dag, task_group, kwargs)
        if task_id != "test":
            raise DbtSparkOperatorError(f"dbt test task {task_id!r}: no such test in {self.manifest}")
        tests = self._by_parent.get(node.unique_id, [])
        names = [self._names[test.unique_id] for test in tests]
        return [  # task id: the test's name, with dbt's hash suffix only where two names clash
            self._task(
                test_task_id(name if names.count(name) == 1 else test.name, test.unique_id),
                test,
                dag,
                task_group,
                kwargs,
            )
            for name, test in zip(names, tests, strict=True)
        ]


def dbt_run_operation(
    task_id: str,
    macro_name: str,
    project: str | os.PathLike[str] = "analytics",
    *,
    execution: str | None = None,
    conn_id: str = DEFAULT_CONN_ID,
    profile_name: str | None = None,
    target_name: str = "kyuubi",
    profile_args: Mapping[str, Any] | None = None,
    pod: PodSettings | None = None,
    **operator_args: Any,
) -> BaseOperator:
    """One ``dbt run-operation`` task with the same profile and pod settings as :func:`dbt_task_group`."""
    setup = project_setup(
        project, execution, conn_id, profile_name, target_name, profile_args, pod, operator_args
    )
    if setup.execution == "kubernetes":
        from cosmos.operators.kubernetes import DbtRunOperationKubernetesOperator

        task = DbtRunOperationKubernetesOperator(
            task_id=task_id,
            macro_name=macro_name,
            project_dir=setup.pod_project_dir,
            profile_config=setup.profile,
            **setup.kubernetes_operator_args,
        )
        from dbt_spark_operator.pod import label_value

        task.labels = {**task.labels, "dbt-node": label_value(macro_name), "dbt-resource-type": "operation"}
    else:
        from cosmos.operators.local import DbtRunOperationLocalOperator

        task = DbtRunOperationLocalOperator(
            task_id=task_id,
            macro_name=macro_name,
            project_dir=str(setup.path),
            profile_config=setup.profile,
            install_deps=False,
            **setup.local_operator_args,
        )
    task.dbt_setup = setup
    return task


def _tasks(group: TaskGroup) -> Iterator[Any]:
    for child in group.children.values():
        if isinstance(child, TaskGroup):
            yield from _tasks(child)
        else:
            yield child


def _per_node_pod_settings(task: Any) -> None:
    """Labels naming the dbt node, and resources from the node's ``meta`` when it sets them."""
    from dbt_spark_operator.pod import label_value, resources

    node = compat.cosmos_node_config(task)
    task.labels = {
        **(task.labels or {}),
        "dbt-node": label_value(node.get("name") or task.task_id),
        "dbt-resource-type": label_value(node.get("resource_type") or "unknown"),
    }
    custom = ((node.get("config") or {}).get("meta") or {}).get(META_KEY, {}).get("resources")
    if custom:
        try:
            task.container_resources = resources(custom)
        except DbtSparkOperatorError as exc:
            raise DbtSparkOperatorError(f"dbt node {node.get('unique_id')}: meta.{META_KEY}.{exc}") from None
