"""Logins checked for real: the local engine with LDAP authentication (``engine up --auth ldap``: Debian's
slapd on loopback and the thrift server's HiveServer2 LDAP settings, as Kyuubi takes them), a DAG that
logs in with the right password, and refused logins that fail the first task at once, in one line,
instead of dbt retrying them as network errors for minutes."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from pathlib import Path

import pytest

from airflow_stack import processes_of
from conftest import ROOT, SESSION_DIR, dags_test, free_port, kyuubi_connection
from dbt_spark_operator.engine import EngineConfig, EngineError, LocalEngine, run_query

DAG = """
from datetime import datetime
from airflow.sdk import DAG
from dbt_spark_operator import DbtSparkDebugOperator, DbtSparkDepsOperator, dbt_task_group
SHOP = {shop!r}
with DAG("ldap_login", schedule=None, start_date=datetime(2025, 1, 1)):
    checks = DbtSparkDebugOperator(task_id="dbt_debug", project=SHOP, execution="local")
    deps = DbtSparkDepsOperator(task_id="dbt_deps", project=SHOP, execution="local")
    checks >> deps >> dbt_task_group(SHOP, execution="local", profile_args={{"schema": "shop"}})
"""


@pytest.fixture(scope="module")
def ldap_engine():
    home = SESSION_DIR / "engine-ldap"
    engine = LocalEngine(EngineConfig.from_env(home=home, port=free_port(), auth="ldap"))
    status = engine.up()
    assert status.auth == "ldap" and "auth LDAP" in status.describe()
    yield engine
    engine.down()
    assert processes_of(home) == []  # slapd went with the engine's process group


def login(engine: LocalEngine, user: str, password: str | None) -> dict[str, str]:
    return {"username": user, "password": password or "", "auth": "LDAP"}


def test_the_directory_holds_two_users_with_private_passwords(ldap_engine):
    users_file = ldap_engine.config.ldap.users_file
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    users = json.loads(users_file.read_text())
    assert set(users) == {"etl", "analyst"} and users["etl"] != users["analyst"]
    port = ldap_engine.config.port
    for user, password in users.items():
        assert run_query(
            "127.0.0.1", port, "SELECT current_user()", credentials=login(ldap_engine, user, password)
        ) == [(user,)]


@pytest.mark.parametrize(
    ("user", "password"),
    [("etl", "the-analysts-password"), ("ghost", "whatever"), ("etl", None)],
    ids=["wrong-password", "unknown-user", "no-password"],
)
def test_the_engine_refuses_a_bad_login_at_once(ldap_engine, user, password):
    users = ldap_engine.config.ldap.users()
    password = users["analyst"] if password == "the-analysts-password" else password
    started = time.monotonic()
    with pytest.raises(EngineError, match="Error validating the login"):
        run_query(
            "127.0.0.1", ldap_engine.config.port, "SELECT 1", credentials=login(ldap_engine, user, password)
        )
    assert time.monotonic() - started < 10


def run_dag(ldap_engine, tmp_path: Path, **connection) -> tuple[subprocess.CompletedProcess, float]:
    (tmp_path / "ldap_login.py").write_text(DAG.format(shop=str(ROOT / "tests" / "dbt_projects" / "shop")))
    fields = {"host": "127.0.0.1", "port": ldap_engine.config.port, "extra": {"auth": "LDAP"}, **connection}
    conn = dict([kyuubi_connection(**fields)])  # the profile's defaults: 5 retries, 60 s, retry_all
    return dags_test("ldap_login", tmp_path, DBT_SPARK_EXECUTION="local", **conn)


def test_a_dag_logs_in_with_the_right_password(ldap_engine, airflow_db, tmp_path):
    user, password = ldap_engine.config.ldap.service_user()
    proc, _ = run_dag(ldap_engine, tmp_path, login=user, password=password)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert password not in output
    # dbt debug ran the pod's argv with the password from the connection, then the project's tasks.
    from dbt_spark_operator.demo import task_summary

    state, tasks = task_summary("ldap_login")
    assert state == "success" and len(tasks) == 8 and {s for _, s, _ in tasks} == {"success"}
    credentials = login(ldap_engine, user, password)
    assert run_query(
        "127.0.0.1", ldap_engine.config.port, "SELECT count(*) FROM shop.shop_prices", credentials=credentials
    ) == [(3,)]


@pytest.mark.parametrize(
    ("user", "password"),
    [("etl", "Wr0ng-Passw0rd"), ("ghost", "Gh0st-Passw0rd"), ("etl", None)],
    ids=["wrong-password", "unknown-user", "no-password"],
)
def test_a_refused_login_fails_the_first_task_at_once_in_one_line(
    ldap_engine, airflow_db, tmp_path, user, password
):
    fields = {"login": user, **({"password": password} if password else {})}
    proc, took = run_dag(ldap_engine, tmp_path, **fields)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    line = (
        f"DbtSparkOperatorError: Kyuubi connection 'kyuubi_default' login refused: authentication failed for "
        f"user '{user}' (auth LDAP) at 127.0.0.1:{ldap_engine.config.port}: Bad status: 3 "
        "(b'Error validating the login'); not retried"
    )
    assert line in output
    assert output.count("login refused") >= 1 and "Running the pod's command" not in output  # no dbt ran
    # dbt's own retries (connect_retries 5 x connect_timeout 60 s, retry_all) would take five minutes.
    assert took < 90, took
    if password:
        assert password not in output
