"""``dbt_task_group``: a dbt project as a Cosmos ``DbtTaskGroup``, one task (one pod) per dbt node.

Parsing needs the project's ``target/manifest.json`` (``dbt-spark-operator manifest PROJECT``; the
fallback runs that same ``dbt deps`` and ``dbt parse`` once when it is missing), never a JVM, an engine
or a cluster.
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, TaskGroup
from cosmos import DbtTaskGroup, ProjectConfig, RenderConfig
from cosmos.constants import DbtResourceType, LoadMode, SourceRenderingBehavior, TestBehavior

from dbt_spark_operator import compat, deprecations
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.execution import Execution, ExecutionName, Graph
from dbt_spark_operator.graph.assets import PRODUCERS, ProjectAssets
from dbt_spark_operator.graph.dbt_task import DbtTask, dbt_task_of
from dbt_spark_operator.graph.per_test import OneTaskPerTest, detached_test_id, test_task_id
from dbt_spark_operator.project.config import DbtProject, KyuubiProfile, configs, flat_keywords
from dbt_spark_operator.project.manifest import Manifest, manifest_path, read_manifest
from dbt_spark_operator.project.setup import ProjectSetup, project_setup

if TYPE_CHECKING:
    from dbt_spark_operator.pod.settings import PodSettings
    from dbt_spark_operator.runtime import DbtRuntime


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
@flat_keywords
def dbt_task_group(
    project: DbtProject | str | os.PathLike[str] | None = None,
    *,
    profile: KyuubiProfile | None = None,
    group_id: str | None = None,
    execution: ExecutionName | Execution | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    pod: PodSettings | None = None,
    operator_args: Mapping[str, Any] | None = None,
    **task_group_args: Any,
) -> DbtTaskGroup:
    """A task group with one task per seed, model, snapshot and test of ``project``.

    Each model (seed, snapshot) is a group ``<name>`` holding its ``run`` (``seed``, ``snapshot``) task and
    one task per test of it; a test of two models is a task of its own once both exist. The fields of
    :class:`~dbt_spark_operator.DbtProject` (``manifest``) and :class:`~dbt_spark_operator.KyuubiProfile`
    (``conn_id``, ``profile_name``, ``target_name``, ``profile_args``) are taken flat too; one given
    beside its object is an error.

    :param project: a :class:`~dbt_spark_operator.DbtProject`, or the dbt project's name under
        ``DBT_SPARK_PROJECTS_DIR`` (in a source checkout, default ``dbt/``) or its path
    :param profile: the :class:`~dbt_spark_operator.KyuubiProfile` (default ``KyuubiProfile()``): its
        Airflow connection (type kyuubi or hiveserver2), read when a task runs, makes the dbt profile
        through :class:`KyuubiProfileMapping`
    :param group_id: the task group's id (default: the dbt project's name)
    :param execution: ``"kubernetes"`` (one pod per task), ``"local"`` (dbt in the worker, a process per
        task), ``"watcher"`` (one ``dbt build`` in the worker, task ``<group>.dbt_build``, whose results
        the node tasks mirror from the triggerer: :mod:`~dbt_spark_operator.watcher`) or
        ``"watcher_kubernetes"`` (the same with the build in one pod, and a node task's own run in its
        pod), or an :class:`~dbt_spark_operator.execution.Execution`
        (``Execution(Runtime.LOCAL, Graph.WATCHED_BUILD)`` is ``"watcher"``); default
        ``$DBT_SPARK_EXECUTION``, else kubernetes
    :param select: dbt selectors of the nodes to render; matching nothing is an error
    :param exclude: dbt selectors of the nodes to leave out
    :param pod: :class:`~dbt_spark_operator.pod.settings.PodSettings` of every pod
    :param operator_args: more arguments for every task (``retries``, ``pool``, ``vars``...); an argument
        neither the dbt operators nor ``KubernetesPodOperator`` know is an error (Cosmos would drop it
        silently)
    :param task_group_args: more arguments for the task group (``dag``, ``default_args``, ``tooltip``...)
    """
    mode = Execution.parse(execution)
    dbt_project, kyuubi = configs("dbt_task_group", project, profile, task_group_args)
    setup = project_setup(dbt_project, kyuubi, execution=mode, pod=pod, operator_args=operator_args)
    runtime = setup.runtime
    runtime.prepare_render()
    manifest_file = manifest_path(setup.path, dbt_project.manifest, kyuubi.target_name)
    group_id = group_id or setup.project_name
    # Our own typed read of the manifest, at most once per call (Cosmos reads it too, for its own graph).
    parsed = functools.cache(functools.partial(read_manifest, manifest_file))
    render_config = RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        select=running_task_selector(group_id, parsed) or list(select),
        exclude=list(exclude),
        test_behavior=TestBehavior.AFTER_EACH,
        # A source with tests or freshness is a task (dbt source freshness) with its tests after it.
        source_rendering_behavior=SourceRenderingBehavior.WITH_TESTS_OR_FRESHNESS,
        # A test of two models (relationships) runs once both exist, as a task of its own.
        should_detach_multiple_parents_tests=True,
        emit_datasets=False,  # Cosmos's OpenLineage assets (local only, at run time): ours are declared
    )
    # Each node's task is of the package's class for the execution, chosen as Cosmos builds it.
    operators = runtime.node_operators(mode.graph)
    tests = OneTaskPerTest(manifest_file, parsed, render_config, operators["DbtTest"])
    render_config.node_converters = {DbtResourceType.TEST: tests}
    project_config = ProjectConfig(
        dbt_project_path=runtime.rendered_project_path(setup),
        manifest_path=manifest_file,
        project_name=setup.project_name,
        install_dbt_deps=False,  # the deps task installs packages once, for every task (DBT_PACKAGES_DIR)
    )
    # The manifest is a local file (checked above). Cosmos wraps it in Airflow's ObjectStoragePath, whose
    # first use loads every Airflow plugin (0.17 s of a parse); a plain Path is a type Cosmos takes too.
    project_config.manifest_path = manifest_file
    with compat.cosmos_detached_test_ids(detached_test_id), compat.cosmos_operator_classes(operators):
        group = DbtTaskGroup(
            group_id=group_id,
            project_config=project_config,
            profile_config=setup.profile,
            execution_config=runtime.execution_config(setup),
            render_config=render_config,
            operator_args=setup.cosmos_operator_args,
            **task_group_args,
        )
    if not group.children:
        raise DbtSparkOperatorError(
            f"select {list(select)} / exclude {list(exclude)} matches no node of dbt project "
            f"{setup.project_name}"
        )
    assets = ProjectAssets(parsed(), kyuubi.conn_id, kyuubi.profile_args.get("schema"))
    for task in _tasks(group):
        _node_assets(task, assets, runtime)
        if isinstance(task, DbtTask):  # not an EmptyOperator Cosmos puts in a node's place
            task.dbt_setup = setup  # what the run-time hook (ConnectionAtRun) reads
            runtime.node_task(task)
    if mode.graph is Graph.WATCHED_BUILD:
        _watch(group, setup, select, exclude)
    return group


def _watch(group: TaskGroup, setup: ProjectSetup, select: Sequence[str], exclude: Sequence[str]) -> None:
    """Watcher execution: one build task for the group's selection; every seed, model, snapshot and test
    task (a mirror, :data:`~dbt_spark_operator.watcher.mirror.MIRRORS`) mirrors its node's result from it
    (a source's freshness task runs as in its execution)."""
    from dbt_spark_operator.watcher.build import BUILD_TASK
    from dbt_spark_operator.watcher.mirror import MirrorMixin

    nodes: list[tuple[Any, str]] = []
    for task in _tasks(group):
        if isinstance(task, MirrorMixin):
            unique_id = compat.cosmos_node_config(task).get("unique_id")
            if not unique_id:
                raise DbtSparkOperatorError(f"task {task.task_id!r} of a watched build names no dbt node")
            nodes.append((task, unique_id))
    build = setup.runtime.build_producer(
        setup,
        group.group_id or BUILD_TASK,
        task_id=BUILD_TASK,
        task_group=group,
        profile_config=setup.profile,
        select=" ".join(select) or None,
        exclude=" ".join(exclude) or None,
        node_tasks={task.task_id: task.select for task, _ in nodes},
    )
    for task, unique_id in nodes:
        task.follow_build(unique_id, build.task_id)


def running_task_selector(group_id: str, manifest: Callable[[], Manifest]) -> list[str] | None:
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


@flat_keywords
def dbt_run_operation(
    task_id: str,
    macro_name: str,
    project: DbtProject | str | os.PathLike[str] | None = None,
    *,
    profile: KyuubiProfile | None = None,
    execution: ExecutionName | Execution | None = None,
    pod: PodSettings | None = None,
    operator_args: Mapping[str, Any] | None = None,
    **extra_operator_args: Any,
) -> BaseOperator:
    """One ``dbt run-operation`` task with the same project, profile and pod settings as
    :func:`dbt_task_group` (and the same flat keywords).

    :param task_id: the task's id
    :param macro_name: the macro to run
    :param project: a :class:`~dbt_spark_operator.DbtProject`, or the dbt project's name under
        ``DBT_SPARK_PROJECTS_DIR`` or its path
    :param profile: the :class:`~dbt_spark_operator.KyuubiProfile` (default ``KyuubiProfile()``)
    :param execution: where dbt runs, as for :func:`dbt_task_group`
    :param pod: :class:`~dbt_spark_operator.pod.settings.PodSettings` of the task's pod
    :param operator_args: more arguments for the task (``retries``, ``args`` of the macro...), checked as
        :func:`dbt_task_group` checks its own
    :param extra_operator_args: the same as ``operator_args`` (deprecated: pass ``operator_args``)
    """
    dbt_project, kyuubi = configs("dbt_run_operation", project, profile, extra_operator_args)
    if extra_operator_args:
        deprecations.warn("dbt_run_operation: pass operator arguments as operator_args={...}")
        operator_args = {**extra_operator_args, **(operator_args or {})}
    setup = project_setup(dbt_project, kyuubi, execution=execution, pod=pod, operator_args=operator_args)
    return setup.runtime.run_operation(setup, task_id, macro_name)


def _tasks(group: TaskGroup) -> Iterator[Any]:
    for child in group.children.values():
        if isinstance(child, TaskGroup):
            yield from _tasks(child)
        else:
            yield child


def _node_assets(task: Any, assets: ProjectAssets, runtime: DbtRuntime) -> None:
    """The node's relation as the task's outlet and what it reads as inlets; a source's task reads the
    source. The task hands dbt's result back for the asset event (:meth:`DbtRuntime.carry_result`)."""
    node = compat.cosmos_node_config(task)
    unique_id = node.get("unique_id")
    kind = node.get("resource_type")
    if not unique_id or kind not in (*PRODUCERS, "source"):
        return
    if (dbt := dbt_task_of(task)) is not None:
        dbt.dbt_unique_id = unique_id
    if kind == "source":
        task.inlets = [a for a in [assets.asset(unique_id)] if a is not None]
        return
    outlet = assets.asset(unique_id)
    task.inlets = assets.inlets(unique_id)
    if outlet is None:
        return
    task.outlets = [outlet]
    runtime.carry_result(task)
