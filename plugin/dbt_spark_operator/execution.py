"""The ``execution`` argument on two axes, where dbt runs (:class:`Runtime`) and how a task group runs
its graph (:class:`Graph`), parsed here and nowhere else (with ``DBT_SPARK_EXECUTION``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from typing import Literal, get_args

from dbt_spark_operator.errors import DbtSparkOperatorError

EXECUTION_ENV = "DBT_SPARK_EXECUTION"


class Runtime(Enum):
    """Where a dbt process runs."""

    LOCAL = "local"
    """In the Airflow worker."""
    KUBERNETES = "kubernetes"
    """In a pod of its own."""


class Graph(Enum):
    """How a task group runs its nodes."""

    PER_NODE = "per_node"
    """A task (one dbt process) per node."""
    WATCHED_BUILD = "watched_build"
    """One dbt build; a task per node mirrors its result (:mod:`~dbt_spark_operator.watcher`)."""


ExecutionName = Literal["kubernetes", "local", "watcher", "watcher_kubernetes"]
"""``"kubernetes"``: a pod per task; ``"local"``: dbt in the worker; ``"watcher"``: one ``dbt build`` in
the worker mirrored by a task per node; ``"watcher_kubernetes"``: the same with the build in one pod."""
EXECUTION_NAMES: tuple[ExecutionName, ...] = get_args(ExecutionName)


@dataclass(frozen=True)
class Execution:
    """Where dbt runs and how a task group runs its graph.

    :param runtime: where dbt runs
    :param graph: how a task group runs its nodes
    """

    runtime: Runtime
    graph: Graph = Graph.PER_NODE

    @classmethod
    def parse(cls, value: ExecutionName | str | Execution | None) -> Execution:
        """``value``, else ``DBT_SPARK_EXECUTION``, else kubernetes; any other value is one clear error.

        :param value: an execution's name, an :class:`Execution`, or None
        """
        if isinstance(value, Execution):
            return value
        name = value or os.environ.get(EXECUTION_ENV) or "kubernetes"
        for known in EXECUTION_NAMES:
            if name == known:
                return _BY_NAME[known]
        raise DbtSparkOperatorError(f"execution must be {', '.join(EXECUTION_NAMES)}, got {name!r}")

    @property
    def name(self) -> ExecutionName:
        """The execution's name as ``execution=`` takes it."""
        return next(name for name, execution in _BY_NAME.items() if execution == self)


_BY_NAME: dict[ExecutionName, Execution] = {
    "kubernetes": Execution(Runtime.KUBERNETES),
    "local": Execution(Runtime.LOCAL),
    "watcher": Execution(Runtime.LOCAL, Graph.WATCHED_BUILD),
    "watcher_kubernetes": Execution(Runtime.KUBERNETES, Graph.WATCHED_BUILD),
}
