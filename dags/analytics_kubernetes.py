"""The production shape: the analytics dbt project with one Kubernetes pod per seed, model, snapshot and test.

Pods run the locally built ``dbt-spark:latest`` image (``image_pull_policy=Never``) against Kyuubi through
the Airflow connection ``kyuubi_default``; the project is mounted read-only at /opt/dbt/projects. When
the connection has a password (auth LDAP), pods read it from the Kubernetes Secret ``kyuubi-credentials``
(key ``password``) in their namespace; it never enters a pod spec.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from dbt_spark_operator import DbtSparkDepsOperator, PodSettings, dbt_run_operation, dbt_task_group

POD = PodSettings(password_secret=("kyuubi-credentials", "password"))


@dag(
    dag_id="analytics_kubernetes",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["dbt", "analytics", "kubernetes"],
    doc_md=__doc__,
)
def analytics_kubernetes() -> None:
    deps = DbtSparkDepsOperator(task_id="dbt_deps", project="analytics", execution="kubernetes", pod=POD)
    load = dbt_run_operation(
        "load_raw_employee_events",
        "load_raw_employee_events",
        project="analytics",
        execution="kubernetes",
        pod=POD,
    )
    deps >> load >> dbt_task_group("analytics", execution="kubernetes", pod=POD)


analytics_kubernetes()
