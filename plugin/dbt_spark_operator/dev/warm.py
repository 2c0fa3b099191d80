"""``dbt_spark_operator.dev.warm.WarmLocalExecutor``, as an Airflow configuration may name it: the
:class:`~dbt_spark_operator.runtime.warm_executor.WarmLocalExecutor`, with a deprecation warning."""

from __future__ import annotations

from typing import Any

from dbt_spark_operator import deprecations

NEW_PATH = "dbt_spark_operator.runtime.warm_executor.WarmLocalExecutor"


def __getattr__(name: str) -> Any:
    if name == "WarmLocalExecutor":
        deprecations.warn(f"executor dbt_spark_operator.dev.warm.WarmLocalExecutor: use {NEW_PATH}")
        from dbt_spark_operator.runtime.warm_executor import WarmLocalExecutor

        return WarmLocalExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
