"""Local execution's start-up: what a task process imports, and the warm executor that imports it first."""

from __future__ import annotations

from pathlib import Path

from airflow._shared.module_loading import import_string
from airflow.executors.local_executor import LocalExecutor

from dbt_spark_operator.dev.demo import WARM_EXECUTOR, airflow_env
from helpers import python_json

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("dbt", "dbt_common", "cosmos", "kubernetes", "kubernetes_asyncio", "pyhive", "agate", "networkx")

# Runs in a fresh interpreter: optionally preload, then do what a local task process does (parse the
# DAG file, run dbt in-process), and print the heavy packages that were imported only then.
CHILD = """
import importlib.util, json, sys
import airflow.sdk
from airflow.sdk.execution_time import task_runner
if sys.argv[1] == "warm":
    from dbt_spark_operator.dev.warm import preload
    preload()
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("dag", sys.argv[2])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
after_parse = set(sys.modules)
if sys.argv[1] == "warm":
    from dbt.cli.main import dbtRunner
    from cosmos.operators.local import DbtRunLocalOperator
    result = dbtRunner().invoke(["parse", "--project-dir", sys.argv[3], "--target-path", sys.argv[4]])
    assert result.success, result.exception
heavy = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in sys.argv[5].split(","))
print(json.dumps({"parse": sorted({m.split(".")[0] for m in after_parse - before}), "heavy": sorted(heavy)}))
"""


GROUP_ONLY_DAG = """
from datetime import datetime
from airflow.sdk import DAG
from dbt_spark_operator import dbt_task_group
with DAG("group_only", schedule=None, start_date=datetime(2025, 1, 1)):
    dbt_task_group("analytics", execution="local")
"""


def _child(mode: str, tmp_path: Path) -> dict[str, list[str]]:
    dag = tmp_path / "group_only.py"
    dag.write_text(GROUP_ONLY_DAG)
    env = airflow_env(ROOT)
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow"), DBT_PROFILES_DIR=str(ROOT / "profiles"))
    args = (mode, str(dag), str(ROOT / "dbt" / "analytics"), str(tmp_path / "target"), ",".join(HEAVY))
    return python_json(CHILD, *args, env=env)


def test_the_demo_and_test_airflow_use_the_warm_executor():
    executor = import_string(WARM_EXECUTOR)
    assert issubclass(executor, LocalExecutor) and executor.is_local  # `airflow standalone` keeps it
    assert airflow_env(ROOT, base={})["AIRFLOW__CORE__EXECUTOR"] == WARM_EXECUTOR


def test_parsing_a_local_task_group_imports_no_kubernetes_code(tmp_path):
    imported = _child("cold", tmp_path)["parse"]
    assert "cosmos" in imported and "dbt_spark_operator" in imported  # the DAG file was parsed
    assert not {"kubernetes", "kubernetes_asyncio"} & set(imported)


def test_after_preload_a_local_task_imports_nothing_heavy(tmp_path):
    assert _child("warm", tmp_path)["heavy"] == []
