"""The cluster tests' fault DAGs (tests/cluster/test_pod_faults.py), every task a pod on the development
cluster: a model whose pod the test deletes while dbt runs it (one retry), a model that fails in the
engine, and a group whose pods the cluster's Pod Security admission refuses (node paths, which
"restricted" forbids)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag

from dbt_spark_operator import PodSettings, dbt_task_group

PODDED = Path(__file__).resolve().parents[1] / "dbt_projects" / "podded"
POD = PodSettings(password_secret=("kyuubi-credentials", "password"))
PROFILE = {"schema": "podded"}


@dag(dag_id="pod_deleted", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def pod_deleted() -> None:
    dbt_task_group(
        PODDED,
        execution="kubernetes",
        select=["slow_numbers"],
        profile_args=PROFILE,
        pod=POD,
        operator_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
    )


@dag(dag_id="pod_failing_node", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def pod_failing_node() -> None:
    dbt_task_group(PODDED, execution="kubernetes", select=["broken_numbers"], profile_args=PROFILE, pod=POD)


@dag(dag_id="pod_refused", schedule=None, start_date=datetime(2025, 1, 1), catchup=False)
def pod_refused() -> None:
    dbt_task_group(
        PODDED,
        execution="kubernetes",
        select=["slow_numbers"],
        profile_args=PROFILE,
        pod=PodSettings.minikube(password_secret=("kyuubi-credentials", "password")),
    )


pod_deleted()
pod_failing_node()
pod_refused()
