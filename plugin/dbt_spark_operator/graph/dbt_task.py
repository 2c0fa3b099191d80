"""What the package keeps on an Airflow operator, typed, read and written here only: plain instance
attributes, set at DAG parse (each process that parses the DAG sets them again) or when the task runs.
Cosmos builds a task group's operators from its own classes, which declare none of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dbt_spark_operator.errors import DbtSparkOperatorError

if TYPE_CHECKING:
    from dbt_spark_operator.project.setup import ProjectSetup


def setup_of(task: object) -> ProjectSetup | None:
    """The project setup of a dbt task of this package, None for any other task."""
    setup: ProjectSetup | None = getattr(task, "dbt_setup", None)
    return setup


def require_setup(task: Any) -> ProjectSetup:
    """The project setup of ``task``, which must be a dbt task of this package."""
    setup = setup_of(task)
    if setup is None:
        raise DbtSparkOperatorError(f"task {getattr(task, 'task_id', task)!r} is no dbt task of this package")
    return setup


def set_setup(task: Any, setup: ProjectSetup) -> None:
    """Make ``task`` a dbt task of ``setup``'s project (its run-time hooks read it)."""
    task.dbt_setup = setup


def unique_id_of(task: object) -> str | None:
    """The dbt node whose asset event the task records, if any."""
    unique_id: str | None = getattr(task, "dbt_unique_id", None)
    return unique_id


def set_unique_id(task: Any, unique_id: str) -> None:
    task.dbt_unique_id = unique_id


def result_of(task: object) -> Mapping[str, Any] | None:
    """What dbt reported in the task's run (a ``run_results.json``), for its asset event; None if unknown."""
    result: Mapping[str, Any] | None = getattr(task, "dbt_pod_result", None)
    return result


def keep_result(task: Any, result: Mapping[str, Any] | None) -> None:
    task.dbt_pod_result = result


def reads_connection_at_start(task: object) -> bool:
    """Whether the task's ``pre_execute`` reads the connection; a task whose class sets
    ``connection_when_dbt_runs`` (a watcher's node task) reads it only when it runs dbt."""
    return not getattr(task, "connection_when_dbt_runs", False)


def builds_pod(task: object) -> bool:
    """Whether ``task`` is a ``KubernetesPodOperator``, asked without importing the provider (a task
    process of local execution never imports it)."""
    return hasattr(task, "build_pod_request_obj")
