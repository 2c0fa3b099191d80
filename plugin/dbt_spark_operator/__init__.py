"""dbt-spark-operator: a dbt project on Spark (Kyuubi, Iceberg) as a per-model Airflow task graph.

Public API (imported lazily, so that ``import dbt_spark_operator`` stays cheap for Airflow's provider
discovery and the CLI):

- :func:`dbt_task_group`, :func:`dbt_run_operation` -- Cosmos task groups and tasks, kubernetes or local
- :class:`DbtProject`, :class:`KyuubiProfile` -- the dbt project and the profile of its tasks, checked
- ``DbtSparkOperator`` and its nine command subclasses (``DbtSparkRunOperator`` ...)
- :class:`PodSettings` -- image, volumes, resources, secrets of the dbt pods
- :class:`KyuubiProfileMapping` -- the dbt-spark thrift profile from an Airflow ``kyuubi`` connection
- :class:`Execution` (:class:`Runtime`, :class:`Graph`) -- where dbt runs and how a group runs its graph
- :class:`DbtSparkOperatorError` -- every bad-input error, one line
"""

from __future__ import annotations

import importlib
from typing import Any

from dbt_spark_operator.commands import OPERATOR_NAMES
from dbt_spark_operator.errors import DbtSparkOperatorError

__version__ = "0.1.0"
_LAZY = {
    **dict.fromkeys(("DbtSparkOperator", *OPERATOR_NAMES), "dbt_spark_operator.commands.operators"),
    "dbt_task_group": "dbt_spark_operator.graph.task_group",
    "dbt_run_operation": "dbt_spark_operator.graph.task_group",
    "dbt_asset": "dbt_spark_operator.graph.assets",
    **dict.fromkeys(("DbtProject", "KyuubiProfile"), "dbt_spark_operator.project.config"),
    "PodSettings": "dbt_spark_operator.pod.settings",
    "KyuubiProfileMapping": "dbt_spark_operator.connection.profile",
    **dict.fromkeys(("Execution", "Runtime", "Graph"), "dbt_spark_operator.execution"),
}
__all__ = ["DbtSparkOperatorError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dbt_spark_operator' has no attribute {name!r}")
