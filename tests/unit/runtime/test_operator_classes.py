"""Every task of a task group is of a real, importable class of the package, chosen when Cosmos builds the
task (runtime/local_operators.py, runtime/kubernetes_operators.py; watcher/mirror.py, watcher/pod.py for
a watched build's mirrors), under the operator names the UI shows; what the package keeps on a task is
typed on that class (graph/dbt_task.py), and no module of the package changes a task's class."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

import cosmos.airflow.graph
import cosmos.core.airflow
import pytest
from airflow.sdk import DAG

from dbt_spark_operator import dbt_run_operation, dbt_task_group
from dbt_spark_operator.compat import cosmos_node_config
from dbt_spark_operator.execution import Execution, Graph, Runtime
from dbt_spark_operator.graph.dbt_task import DbtTask, builds_pod
from dbt_spark_operator.project.setup import ProjectSetup
from helpers import ROOT, python_json

PACKAGE = ROOT / "plugin" / "dbt_spark_operator"
KINDS = {
    "model": "DbtRun",
    "seed": "DbtSeed",
    "snapshot": "DbtSnapshot",
    "test": "DbtTest",
    "source": "DbtSource",
}


def expected_class(execution: str, kind: str) -> str:
    """The module and name of a node task's class: Cosmos's operator names, ``<dbt class>[Kubernetes]Mirror``
    for a watched build's mirrors (every node but a source's freshness)."""
    parsed = Execution.parse(execution)
    where = "Kubernetes" if parsed.runtime is Runtime.KUBERNETES else "Local"
    if parsed.graph is Graph.WATCHED_BUILD and kind != "source":
        module = "watcher.pod" if parsed.runtime is Runtime.KUBERNETES else "watcher.mirror"
        return f"dbt_spark_operator.{module}.{KINDS[kind]}{where.replace('Local', '')}Mirror"
    return f"dbt_spark_operator.runtime.{where.lower()}_operators.{KINDS[kind]}{where}Operator"


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> dict[int, set[str]]:
    """The attributes of each task Cosmos builds, as its class's ``__init__`` left them."""
    attributes: dict[int, set[str]] = {}
    original = cosmos.core.airflow.get_airflow_task

    def recording(*args: Any, **kwargs: Any) -> Any:
        task = original(*args, **kwargs)
        attributes[id(task)] = set(vars(task))
        return task

    monkeypatch.setattr(cosmos.airflow.graph, "create_airflow_task", recording)  # Cosmos's own tasks
    monkeypatch.setattr(cosmos.core.airflow, "get_airflow_task", recording)  # the package's test tasks
    return attributes


@pytest.mark.parametrize("execution", ["kubernetes", "local", "watcher", "watcher_kubernetes"])
def test_each_node_task_is_of_the_package_s_class_chosen_when_it_is_built(execution, built):
    with DAG(execution, schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        group = dbt_task_group("analytics", execution=execution)
        operation = dbt_run_operation("operation", "some_macro", "analytics", execution=execution)
    parsed = Execution.parse(execution)
    kinds = set()
    for task in dag.tasks:
        node = cosmos_node_config(task)
        if not node:
            continue
        kind = node["resource_type"]
        kinds.add(kind)
        cls = type(task)
        assert f"{cls.__module__}.{cls.__qualname__}" == expected_class(execution, kind), task.task_id
        assert getattr(importlib.import_module(cls.__module__), cls.__qualname__) is cls  # module-level
        assert isinstance(task, DbtTask) and task.dbt_setup is not None
        assert builds_pod(task) is (parsed.runtime is Runtime.KUBERNETES), task.task_id
        if parsed.runtime is Runtime.KUBERNETES:  # Cosmos's Kubernetes classes' signatures, precomputed
            inits = [k.__dict__.get("__init__") for k in cls.__mro__]
            assert all("__signature__" in f.__dict__ for f in inits if inspect.isfunction(f)), cls
        mirrors = parsed.graph is Graph.WATCHED_BUILD and kind != "source"
        assert task.connection_when_dbt_runs is mirrors and task.start_from_trigger is mirrors, task.task_id
        if mirrors:
            assert task.start_trigger_args.trigger_kwargs["unique_id"] == node["unique_id"]
        if kind in ("model", "seed", "snapshot", "source"):
            assert task.dbt_unique_id == node["unique_id"]
        # What the package set after Cosmos built the task is declared on the task's class.
        added = set(vars(task)) - built[id(task)]
        assert {name for name in added if not hasattr(cls, name)} == set(), task.task_id
    assert kinds == set(KINDS)
    where = "Kubernetes" if parsed.runtime is Runtime.KUBERNETES else "Local"
    assert type(operation).__name__ == f"DbtRunOperation{where}Operator"
    assert isinstance(operation, DbtTask) and operation.dbt_setup is not None
    if parsed.graph is Graph.WATCHED_BUILD:
        build = dag.task_dict[f"{group.group_id}.dbt_build"]
        assert isinstance(build, DbtTask) and build.dbt_setup is not None


def test_a_local_or_watcher_task_group_s_classes_import_no_kubernetes_module():
    script = """
import json, sys
from datetime import datetime
from airflow.sdk import DAG
from dbt_spark_operator import dbt_task_group
with DAG("local", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
    dbt_task_group("analytics", execution="local", group_id="local")
    dbt_task_group("analytics", execution="watcher", group_id="watcher")
names = sorted({type(t).__module__ for t in dag.tasks})
heavy = ("kubernetes", "kubernetes_asyncio", "airflow.providers.cncf.kubernetes.operators")
imported = sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.startswith(heavy[2]))
print(json.dumps([names, imported]))
"""
    names, imported = python_json(script, env=dict(os.environ))
    assert imported == []
    assert names == [
        "dbt_spark_operator.runtime.local_operators",
        "dbt_spark_operator.watcher.build",
        "dbt_spark_operator.watcher.mirror",
    ]


def test_what_the_package_keeps_on_a_task_is_typed_and_documented_on_its_class():
    hints = typing.get_type_hints(DbtTask, localns={"ProjectSetup": ProjectSetup, "Mapping": Mapping})
    assert hints["dbt_setup"] == ProjectSetup | None
    assert hints["dbt_unique_id"] == str | None
    assert hints["dbt_pod_result"] == Mapping[str, Any] | None
    assert hints["connection_when_dbt_runs"] == ClassVar[bool]
    body = next(
        node
        for node in ast.parse((PACKAGE / "graph" / "dbt_task.py").read_text()).body
        if isinstance(node, ast.ClassDef) and node.name == "DbtTask"
    ).body
    for index, statement in enumerate(body):
        if isinstance(statement, ast.AnnAssign) and statement.value is not None:  # a state, with its default
            following = body[index + 1]
            documented = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
            assert documented, f"DbtTask.{ast.unparse(statement.target)} has no docstring"


def test_no_module_of_the_package_changes_a_task_s_class_or_makes_one_at_run_time():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Attribute) and t.attr == "__class__" for t in targets):
                found.append(f"{path.name}:{node.lineno} assigns __class__")
            if isinstance(node, ast.Call) and any(
                isinstance(a, ast.Constant) and a.value == "__class__" for a in node.args
            ):
                found.append(f"{path.name}:{node.lineno} sets __class__")
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "type" and len(node.args) == 3:
                found.append(f"{path.name}:{node.lineno} makes a class with type()")
    assert found == []


def test_the_package_s_classes_are_initialised_as_cosmos_s_defaults_applied_once():
    from dbt_spark_operator.runtime import kubernetes_operators, local_operators
    from dbt_spark_operator.watcher import mirror, pod

    classes = [
        *local_operators.NODE_OPERATORS.values(),
        *kubernetes_operators.NODE_OPERATORS.values(),
        *mirror.MIRRORS.values(),
        *pod.MIRRORS.values(),
        local_operators.DbtRunOperationLocalOperator,
        kubernetes_operators.DbtRunOperationKubernetesOperator,
    ]
    for cls in classes:
        cosmos_class = next(base for base in cls.__mro__ if base.__module__.startswith("cosmos."))
        assert cls.__init__ is cosmos_class.__init__, cls.__qualname__  # not wrapped again by Airflow
