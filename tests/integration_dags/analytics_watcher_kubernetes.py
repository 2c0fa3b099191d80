"""The analytics project in ``watcher_kubernetes`` execution: one ``dbt build`` pod, a mirror task per
node. The integration suite renders and validates its pods (tests/integration/test_pod_security.py) and
checks that a task process renders only its node (tests/integration/test_task_group.py)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from dbt_spark_operator import DbtSparkDepsOperator, PodSettings, dbt_task_group

POD = PodSettings(password_secret=("kyuubi-credentials", "password"))


@dag(
    dag_id="analytics_watcher_kubernetes",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["dbt", "integration"],
)
def analytics_watcher_kubernetes() -> None:
    deps = DbtSparkDepsOperator(task_id="dbt_deps", project="analytics", execution="kubernetes", pod=POD)
    deps >> dbt_task_group("analytics", execution="watcher_kubernetes", pod=POD)


analytics_watcher_kubernetes()
