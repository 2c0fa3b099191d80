"""The full pipeline: debug -> deps -> seed -> load -> the per-model task group -> snapshot -> source
freshness -> docs, mixing the nine-operator suite with ``dbt_task_group``.

Execution from ``DBT_SPARK_EXECUTION`` (kubernetes by default; ``make demo`` runs it locally). When the
connection ``kyuubi_default`` has a password (auth LDAP), pods read it from the Kubernetes Secret
``kyuubi-credentials`` (key ``password``); local runs take it from the connection.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag

from dbt_spark_operator import (
    DbtSparkDebugOperator,
    DbtSparkDepsOperator,
    DbtSparkDocsOperator,
    DbtSparkFreshnessOperator,
    DbtSparkSeedOperator,
    DbtSparkSnapshotOperator,
    PodSettings,
    dbt_run_operation,
    dbt_task_group,
)

POD = PodSettings(password_secret=("kyuubi-credentials", "password"))


@dag(
    dag_id="sample_dbt_pipeline",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["dbt", "analytics"],
    doc_md=__doc__,
)
def sample_dbt_pipeline() -> None:
    debug = DbtSparkDebugOperator(task_id="dbt_debug", project="analytics", pod=POD)
    deps = DbtSparkDepsOperator(task_id="dbt_deps", project="analytics", pod=POD)
    seed = DbtSparkSeedOperator(task_id="dbt_seed", project="analytics", full_refresh=True, pod=POD)
    load = dbt_run_operation(
        "load_raw_employee_events", "load_raw_employee_events", project="analytics", pod=POD
    )
    models = dbt_task_group("analytics", group_id="models", select=["path:models"], pod=POD)
    snapshot = DbtSparkSnapshotOperator(task_id="dbt_snapshot", project="analytics", pod=POD)
    freshness = DbtSparkFreshnessOperator(
        task_id="dbt_source_freshness", project="analytics", select="source:raw", pod=POD
    )
    docs = DbtSparkDocsOperator(task_id="dbt_docs_generate", project="analytics", pod=POD)
    debug >> deps >> seed >> load >> models >> snapshot >> freshness >> docs


sample_dbt_pipeline()
