"""What the package keeps on an Airflow operator: :class:`DbtTask`, mixed into every operator class of the
package (the command operators, a task group's node tasks, the watched build, the run-operation task),
declares it as typed class attributes; :func:`dbt_task_of` is the one accessor for a task of any class."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from dbt_spark_operator.errors import DbtSparkOperatorError

if TYPE_CHECKING:
    from dbt_spark_operator.project.setup import ProjectSetup


class DbtTask:
    """Mixed in before an Airflow operator class: the task is a dbt task of this package. Its state is set
    at DAG parse (each process that parses the DAG sets it again) or when the task runs."""

    task_id: str  # the operator's

    dbt_setup: ProjectSetup | None = None
    """The project's setup (profile, pod, runtime), set at DAG parse: what the run-time hooks read."""

    dbt_unique_id: str | None = None
    """The dbt node whose asset event the task records, set at DAG parse; None: the task records none."""

    dbt_pod_result: Mapping[str, Any] | None = None
    """What dbt reported in the task's run (a ``run_results.json``), kept when the task runs, for its
    asset event; None if unknown."""

    connection_when_dbt_runs: ClassVar[bool] = False
    """True: the task reads the connection itself, only when it runs dbt (a watcher's node task, which
    mostly records an asset event); False: its ``pre_execute`` reads it (:class:`~dbt_spark_operator.
    project.setup.ConnectionAtRun`)."""

    def require_setup(self) -> ProjectSetup:
        """The project's setup, which every dbt task of the package gets at DAG parse."""
        if self.dbt_setup is None:
            raise DbtSparkOperatorError(f"dbt task {self.task_id!r} has no project setup")
        return self.dbt_setup


def dbt_task_of(task: object) -> DbtTask | None:
    """``task`` as a dbt task of this package, None for any other task."""
    return task if isinstance(task, DbtTask) else None


def require_dbt_task(task: object) -> DbtTask:
    """``task``, which must be a dbt task of this package."""
    found = dbt_task_of(task)
    if found is None:
        raise DbtSparkOperatorError(f"task {getattr(task, 'task_id', task)!r} is no dbt task of this package")
    return found


def builds_pod(task: object) -> bool:
    """Whether ``task`` is a ``KubernetesPodOperator``, asked without importing the provider (a task
    process of local execution never imports it)."""
    return hasattr(task, "build_pod_request_obj")
