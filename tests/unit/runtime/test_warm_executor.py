"""Local execution's start-up: what parsing a task process's DAG imports, and the warm executor that
imports the rest first (tests/integration/test_warm_preload.py runs dbt after the preload)."""

from __future__ import annotations

from airflow._shared.module_loading import import_string
from airflow.executors.local_executor import LocalExecutor

from dbt_spark_operator.dev.demo import WARM_EXECUTOR, airflow_env
from helpers import ROOT, task_process_imports


def test_the_demo_and_test_airflow_use_the_warm_executor():
    executor = import_string(WARM_EXECUTOR)
    assert issubclass(executor, LocalExecutor) and executor.is_local  # `airflow standalone` keeps it
    assert airflow_env(ROOT, base={})["AIRFLOW__CORE__EXECUTOR"] == WARM_EXECUTOR


def test_parsing_a_local_task_group_imports_no_kubernetes_code(tmp_path):
    imported = task_process_imports("cold", tmp_path)["parse"]
    assert "cosmos" in imported and "dbt_spark_operator" in imported  # the DAG file was parsed
    assert not {"kubernetes", "kubernetes_asyncio"} & set(imported)
