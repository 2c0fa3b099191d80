"""``execution`` parsed in one place (two axes), the runtime chosen for each place dbt runs, and the
accessor of a dbt task of the package, its state typed on its class."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from dbt_spark_operator import DbtSparkOperatorError
from dbt_spark_operator.execution import Execution, Graph, Runtime
from dbt_spark_operator.graph import dbt_task
from dbt_spark_operator.runtime import runtime_for
from helpers import python_json

NAMES = {
    "kubernetes": (Runtime.KUBERNETES, Graph.PER_NODE),
    "local": (Runtime.LOCAL, Graph.PER_NODE),
    "watcher": (Runtime.LOCAL, Graph.WATCHED_BUILD),
    "watcher_kubernetes": (Runtime.KUBERNETES, Graph.WATCHED_BUILD),
}


@pytest.mark.parametrize("name", NAMES)
def test_each_execution_name_is_a_runtime_and_a_graph_and_back(name):
    execution = Execution.parse(name)
    assert (execution.runtime, execution.graph) == NAMES[name]
    assert execution.name == name and Execution.parse(execution) is execution


def test_the_default_comes_from_the_environment_else_kubernetes(monkeypatch):
    monkeypatch.delenv("DBT_SPARK_EXECUTION", raising=False)
    assert Execution.parse(None) == Execution(Runtime.KUBERNETES)
    monkeypatch.setenv("DBT_SPARK_EXECUTION", "watcher")
    assert Execution.parse(None) == Execution(Runtime.LOCAL, Graph.WATCHED_BUILD)
    assert Execution.parse("local") == Execution(Runtime.LOCAL)


def test_a_bad_execution_is_one_line_naming_the_four(monkeypatch):
    with pytest.raises(DbtSparkOperatorError) as error:
        Execution.parse("pods")
    assert str(error.value) == "execution must be kubernetes, local, watcher, watcher_kubernetes, got 'pods'"
    monkeypatch.setenv("DBT_SPARK_EXECUTION", "Local")
    with pytest.raises(DbtSparkOperatorError, match="got 'Local'"):
        Execution.parse(None)


@pytest.mark.parametrize("runtime", list(Runtime))
def test_each_place_dbt_runs_has_its_runtime(runtime):
    assert runtime_for(runtime).runtime is runtime


def test_choosing_a_runtime_imports_neither_the_kubernetes_provider_nor_its_client():
    script = """
import json, sys
from dbt_spark_operator.execution import Execution
from dbt_spark_operator.runtime import runtime_for
runtime_for(Execution.parse("local").runtime)
runtime_for(Execution.parse("kubernetes").runtime)
heavy = ("kubernetes", "kubernetes_asyncio", "airflow.providers.cncf.kubernetes.operators")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.startswith(heavy[2]))))
"""
    assert python_json(script, env=dict(os.environ)) == []


class _Task(dbt_task.DbtTask):
    task_id = "t"


def test_the_accessor_finds_the_package_s_dbt_tasks_whose_state_is_typed_on_their_class():
    task, other = _Task(), SimpleNamespace(task_id="o", dbt_setup=SimpleNamespace())
    assert dbt_task.dbt_task_of(task) is task and dbt_task.require_dbt_task(task) is task
    assert dbt_task.dbt_task_of(other) is None  # an attribute of that name makes no dbt task
    with pytest.raises(DbtSparkOperatorError, match="'o' is no dbt task of this package"):
        dbt_task.require_dbt_task(other)
    state = (task.dbt_setup, task.dbt_unique_id, task.dbt_pod_result, task.connection_when_dbt_runs)
    assert state == (None, None, None, False)
    with pytest.raises(DbtSparkOperatorError, match="dbt task 't' has no project setup"):
        task.require_setup()
    setup = SimpleNamespace(project_name="p")
    task.dbt_setup = setup
    assert task.require_setup() is setup and _Task().dbt_setup is None  # the instance's, not the class's
    assert not dbt_task.builds_pod(task) and not dbt_task.builds_pod(other)


def test_the_package_exports_the_execution_types():
    import dbt_spark_operator
    from dbt_spark_operator import execution

    assert {"Execution", "Runtime", "Graph"} <= set(dbt_spark_operator.__all__)
    assert dbt_spark_operator.Execution is execution.Execution
    watcher = dbt_spark_operator.Execution(
        dbt_spark_operator.Runtime.LOCAL, dbt_spark_operator.Graph.WATCHED_BUILD
    )
    assert watcher.name == "watcher" and execution.Execution.parse("watcher") == watcher
