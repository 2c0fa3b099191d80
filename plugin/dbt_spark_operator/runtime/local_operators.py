"""The operator classes of local execution: Cosmos's local operators as dbt tasks of this package
(:class:`~dbt_spark_operator.graph.dbt_task.DbtTask`), under Cosmos's class names (the Airflow UI's
operator names). A task group's node tasks get them when Cosmos builds the task (:data:`NODE_OPERATORS`)."""

from __future__ import annotations

from collections.abc import Mapping

from cosmos.operators import local

from dbt_spark_operator import compat
from dbt_spark_operator.graph.dbt_task import DbtTask


@compat.operator_init_applied_once
class DbtRunLocalOperator(DbtTask, local.DbtRunLocalOperator):
    """``dbt run`` of one model, in the worker."""


@compat.operator_init_applied_once
class DbtSeedLocalOperator(DbtTask, local.DbtSeedLocalOperator):
    """``dbt seed`` of one seed, in the worker."""


@compat.operator_init_applied_once
class DbtSnapshotLocalOperator(DbtTask, local.DbtSnapshotLocalOperator):
    """``dbt snapshot`` of one snapshot, in the worker."""


@compat.operator_init_applied_once
class DbtTestLocalOperator(DbtTask, local.DbtTestLocalOperator):
    """``dbt test`` of one test, in the worker."""


@compat.operator_init_applied_once
class DbtSourceLocalOperator(DbtTask, local.DbtSourceLocalOperator):
    """``dbt source freshness`` of one source, in the worker."""


@compat.operator_init_applied_once
class DbtRunOperationLocalOperator(DbtTask, local.DbtRunOperationLocalOperator):
    """``dbt run-operation`` of one macro, in the worker (:func:`~dbt_spark_operator.graph.task_group.
    dbt_run_operation`)."""


NODE_OPERATORS: Mapping[str, type[DbtTask]] = {
    "DbtRun": DbtRunLocalOperator,
    "DbtSeed": DbtSeedLocalOperator,
    "DbtSnapshot": DbtSnapshotLocalOperator,
    "DbtTest": DbtTestLocalOperator,
    "DbtSource": DbtSourceLocalOperator,
}
"""The class of a task group's node task, by the dbt class Cosmos names it after (``DbtRun``...)."""
