"""Warm workers for local execution: each task process starts with dbt already imported.

Airflow's LocalExecutor forks its workers from the scheduler and each worker forks one process per task,
which then imports dbt, dbt-spark and Cosmos's local operators and builds dbt's first-command caches:
about 2 s of every local model task before dbt logs a line (bench/run_bench.py). ``WarmLocalExecutor``
does that once, in the scheduler before it forks the workers, so every task process inherits it::

    AIRFLOW__CORE__EXECUTOR=dbt_spark_operator.runtime.warm_executor.WarmLocalExecutor

It costs the scheduler about 2 s at start (measured here; 4 s on a loaded machine) and about 160 MB of
memory, shared copy-on-write with the workers. Nothing connects to an engine or reads a project: only
imports and in-process caches. Kubernetes execution does not need it (each task is a fresh pod).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import time

from airflow.executors.local_executor import LocalExecutor

from dbt_spark_operator import compat

log = logging.getLogger(__name__)

# What a local dbt task imports on top of the Airflow task runner (measured with sys.modules).
PRELOAD = (
    "dbt.cli.main",
    "dbt.adapters.spark.impl",
    "dbt.adapters.spark.connections",
    "pyhive.hive",
    "dbt.parser.manifest",
    "dbt.task.run",
    "dbt.task.test",
    "dbt.task.seed",
    "dbt.task.snapshot",
    "dbt.task.build",
    "dbt.task.freshness",
    "dbt.task.compile",
    "dbt.task.docs.generate",
    "cosmos.operators.local",
    "cosmos.dbt.runner",
    "openlineage.common.provider.dbt.local",
    "dbt_spark_operator.graph.task_group",
    "dbt_spark_operator.commands.operators",
)


def preload() -> float:
    """Import what local dbt tasks use and fill dbt's per-process caches; returns the seconds taken."""
    started = time.perf_counter()
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an optional part (e.g. OpenLineage) missing: tasks import less
            log.info("not preloaded: %s (%s)", name, exc)
    # Airflow plugins (Cosmos's, this package's docs view), which each task process loads otherwise.
    compat.load_airflow_plugins()
    # dbt validates the project and profile against JSON schemas it builds on first use (0.3 s a task).
    compat.dbt_build_project_schemas()
    # dbt-adapters' behaviour flags call inspect.stack(), which maps every loaded module to its file once
    # per process (0.25 s a task with Airflow's modules loaded); map them now.
    inspect.stack()
    return time.perf_counter() - started


class WarmLocalExecutor(LocalExecutor):
    """Airflow's LocalExecutor whose workers (and so task processes) are forked after :func:`preload`."""

    def start(self) -> None:
        log.info("preloaded dbt for local tasks in %.1f s", preload())
        super().start()
