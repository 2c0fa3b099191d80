"""A Kyuubi password (auth LDAP) never shows in a log, an XCom value or a file a run wrote: only as dbt's
env_var() (tests/unit/pod/test_settings.py: in a pod spec, only as a Kubernetes Secret reference)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from airflow.sdk import DAG

from dbt_spark_operator import (
    DbtSparkDebugOperator,
    DbtSparkRunOperator,
    DbtSparkSeedOperator,
    DbtSparkTestOperator,
)
from dbt_spark_operator.runtime.rendered_pod import task_context
from helpers import PROJECT, SESSION_DIR, kyuubi_connection

PASSWORD = "Ldap-S3cret-4-Kyuubi!"


@pytest.fixture
def ldap_connection(monkeypatch):
    # The local engine accepts SASL PLAIN with any password (its authentication is NONE), so the
    # LDAP-shaped profile connects for real.
    port = int(os.environ["DBT_SPARK_LOCAL_PORT"])
    monkeypatch.setenv(
        *kyuubi_connection(
            "kyuubi_ldap", host="127.0.0.1", port=port, login="etl", password=PASSWORD, extra={"auth": "LDAP"}
        )
    )
    return "kyuubi_ldap"


def test_no_password_in_logs_xcom_or_files_of_local_runs(engine, ldap_connection, caplog):
    caplog.set_level("DEBUG")
    started = datetime.now().timestamp()
    results = []
    with DAG("secret_runs", schedule=None, start_date=datetime(2025, 1, 1)):
        tasks = [
            DbtSparkDebugOperator(
                task_id="debug", project="analytics", conn_id=ldap_connection, execution="local"
            ),
            DbtSparkSeedOperator(
                task_id="seed", project="analytics", conn_id=ldap_connection, execution="local"
            ),
            DbtSparkRunOperator(
                project="analytics",
                task_id="run",
                conn_id=ldap_connection,
                execution="local",
                models="stg_employees",
            ),
            DbtSparkTestOperator(
                project="analytics",
                task_id="test",
                conn_id=ldap_connection,
                execution="local",
                select="stg_employees",
                dbt_flags=["--indirect-selection", "cautious"],
            ),
        ]
    for task in tasks:
        context = task_context(task)
        task.render_template_fields(context)  # as a worker does before execute
        results.append(task.execute(context))
    assert "All checks passed!" in caplog.text  # it did connect, with the LDAP profile
    assert results[2]["counts"] == {"success": 1}
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(results)
    written = [
        p
        for root in (SESSION_DIR, PROJECT)
        for p in Path(root).rglob("*")
        if p.is_file() and p.stat().st_mtime >= started - 1
    ]
    assert written, "the runs wrote no file at all?"
    for path in written:
        assert PASSWORD.encode() not in path.read_bytes(), path
