"""Logins and TLS checked for real: the secure engine (``engine up --auth ldap --tls``: Debian's slapd on
loopback, the thrift server's HiveServer2 LDAP and SSL settings, as Kyuubi takes them, a self-signed
certificate from keytool). A DAG logs in with the right password over TLS; a refused login or a TLS
mismatch fails the first task at once, in one line, instead of dbt retrying it as a network error for
minutes; what dbt-spark's ``use_ssl`` does and does not check, shown on the wire."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from dbt_spark_operator.dev.engine import EngineError, LocalEngine, run_query
from helpers import ROOT, dags_test, kyuubi_connection, secure_query

DAG = """
from datetime import datetime
from airflow.sdk import DAG
from dbt_spark_operator import DbtSparkDebugOperator, DbtSparkDepsOperator, dbt_task_group
SHOP = {shop!r}
with DAG("secure_login", schedule=None, start_date=datetime(2025, 1, 1)):
    checks = DbtSparkDebugOperator(task_id="dbt_debug", project=SHOP, execution="local")
    deps = DbtSparkDepsOperator(task_id="dbt_deps", project=SHOP, execution="local")
    checks >> deps >> dbt_task_group(SHOP, execution="local", profile_args={{"schema": "shop"}})
"""


def login(user: str, password: str | None) -> dict[str, str]:
    return {"username": user, "password": password or "", "auth": "LDAP"}


def test_the_directory_holds_two_users_with_private_passwords(secure_engine):
    users_file = secure_engine.config.ldap.users_file
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    users = json.loads(users_file.read_text())
    assert set(users) == {"etl", "analyst"} and users["etl"] != users["analyst"]
    cfg = secure_engine.config
    for user, password in users.items():
        rows = run_query(
            cfg.host, cfg.port, "SELECT current_user()", credentials=login(user, password), tls=True
        )
        assert rows == [(user,)]


@pytest.mark.parametrize(
    ("user", "password"),
    [("etl", "the-analysts-password"), ("ghost", "whatever"), ("etl", None)],
    ids=["wrong-password", "unknown-user", "no-password"],
)
def test_the_engine_refuses_a_bad_login_at_once(secure_engine, user, password):
    users = secure_engine.config.ldap.users()
    password = users["analyst"] if password == "the-analysts-password" else password
    started = time.monotonic()
    with pytest.raises(EngineError, match="Error validating the login"):
        cfg = secure_engine.config
        run_query(cfg.host, cfg.port, "SELECT 1", credentials=login(user, password), tls=True)
    assert time.monotonic() - started < 10


def test_the_keystore_password_is_in_no_command_line_and_only_in_private_files(secure_engine):
    cfg = secure_engine.config
    password = cfg.certificate.password_file.read_text()
    holders = [p for p in [*cfg.home.rglob("*")] if p.is_file() and password.encode() in p.read_bytes()]
    assert sorted(p.name for p in holders) == ["hive-site.xml", "keystore-password"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in holders)
    from dbt_spark_operator.dev.airflow_stack import processes_using

    assert [p for p in processes_using(cfg.home) if password in " ".join(p.cmdline())] == []


class Relay:
    """A TCP relay in front of the engine that keeps every byte the client sent. With ``impostor`` (a
    certificate and key of its own) it is a man in the middle: it ends the client's TLS with that
    certificate, opens its own TLS to the engine, and keeps the client's bytes decrypted."""

    def __init__(self, port: int, impostor: tuple[Path, Path] | None = None) -> None:
        self.sent = bytearray()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.impostor = impostor
        threading.Thread(target=self._serve, args=(port,), daemon=True).start()

    def _serve(self, port: int) -> None:
        while True:
            client, _ = self.server.accept()
            upstream = socket.create_connection(("127.0.0.1", port))
            if self.impostor:
                server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                server_side.load_cert_chain(*self.impostor)
                client = server_side.wrap_socket(client, server_side=True)
                client_side = ssl.create_default_context()
                client_side.check_hostname = False
                client_side.verify_mode = ssl.CERT_NONE
                upstream = client_side.wrap_socket(upstream)
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    self.sent += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def test_use_ssl_encrypts_the_login_and_the_sql_on_the_wire(secure_engine, engine):
    cfg = secure_engine.config
    user, password = cfg.ldap.service_user()
    relay = Relay(cfg.port)
    marker = "tls_marker_7361"
    credentials = login(user, password)
    rows = run_query("127.0.0.1", relay.port, f"SELECT '{marker}'", credentials=credentials, tls=True)
    assert rows == [(marker,)]
    assert relay.sent.startswith(b"\x16\x03")  # a TLS handshake record, then only TLS records
    assert password.encode() not in relay.sent and marker.encode() not in relay.sent
    # Without TLS (the session's plain engine, which takes any password) the same login is readable.
    plain = Relay(int(engine.port))
    run_query("127.0.0.1", plain.port, f"SELECT '{marker}'", credentials=login("etl", password))
    assert password.encode() in plain.sent and marker.encode() in plain.sent


def test_use_ssl_does_not_verify_the_server_certificate(secure_engine, tmp_path):
    """dbt-spark's ``use_ssl`` (``build_ssl_transport``: ``verify_mode=CERT_NONE``, ``check_hostname=
    False``) accepts any certificate. The engine's self-signed one is refused by Python's default
    verification and trusted given the engine's PEM, so a client that verifies can tell; dbt-spark
    cannot: a man in the middle with a certificate of its own reads the password, and dbt-spark's
    transport goes on as if nothing happened."""
    cfg = secure_engine.config
    with (
        socket.create_connection((cfg.host, cfg.port), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError, match="self-signed certificate"),
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
    trusting = ssl.create_default_context(cafile=str(cfg.certificate.certificate))
    with (
        socket.create_connection((cfg.host, cfg.port), timeout=10) as raw,
        trusting.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")

    key, cert = tmp_path / "impostor.key", tmp_path / "impostor.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=impostor",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    user, password = cfg.ldap.service_user()
    middle = Relay(cfg.port, impostor=(cert, key))
    credentials = login(user, password)
    rows = run_query("127.0.0.1", middle.port, "SELECT current_user()", credentials=credentials, tls=True)
    assert rows == [(user,)]
    assert password.encode() in middle.sent  # read in the middle: the certificate was never checked


def run_dag(tmp_path: Path, **connection) -> tuple[subprocess.CompletedProcess, float]:
    (tmp_path / "secure_login.py").write_text(DAG.format(shop=str(ROOT / "tests" / "dbt_projects" / "shop")))
    conn = dict([kyuubi_connection(**connection)])  # the profile's defaults: 5 retries, 60 s, retry_all
    return dags_test("secure_login", tmp_path, DBT_SPARK_EXECUTION="local", **conn)


def secure_connection(engine: LocalEngine, **fields: object) -> dict[str, object]:
    extra = {"auth": "LDAP", "use_ssl": True, **fields.pop("extra", {})}  # type: ignore[dict-item]
    return {"host": "127.0.0.1", "port": engine.config.port, "extra": extra, **fields}


def test_a_dag_logs_in_with_the_right_password_over_tls(secure_engine, airflow_db, tmp_path):
    user, password = secure_engine.config.ldap.service_user()
    proc, _ = run_dag(tmp_path, **secure_connection(secure_engine, login=user, password=password))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    assert password not in output
    # dbt debug ran the pod's argv with the password from the connection, then the project's tasks.
    from dbt_spark_operator.dev.demo import task_summary

    state, tasks = task_summary("secure_login")
    assert state == "success" and len(tasks) == 8 and {s for _, s, _ in tasks} == {"success"}
    assert secure_query(secure_engine, "SELECT count(*) FROM shop.shop_prices") == [(3,)]


@pytest.mark.parametrize(
    ("user", "password"),
    [("etl", "Wr0ng-Passw0rd"), ("ghost", "Gh0st-Passw0rd"), ("etl", None)],
    ids=["wrong-password", "unknown-user", "no-password"],
)
def test_a_refused_login_fails_the_first_task_at_once_in_one_line(
    secure_engine, airflow_db, tmp_path, user, password
):
    fields = {"login": user, **({"password": password} if password else {})}
    proc, took = run_dag(tmp_path, **secure_connection(secure_engine, **fields))
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    line = (
        f"DbtSparkOperatorError: Kyuubi connection 'kyuubi_default' login refused: authentication failed for "
        f"user '{user}' (auth LDAP) at 127.0.0.1:{secure_engine.config.port}: Bad status: 3 "
        "(b'Error validating the login'); not retried"
    )
    assert line in output
    assert "Running the pod's command" not in output  # no dbt ran
    # dbt's own retries (connect_retries 5 x connect_timeout 60 s, retry_all) would take five minutes.
    assert took < 90, took
    if password:
        assert password not in output


@pytest.mark.parametrize("client", ["plain-client-tls-server", "tls-client-plain-server"])
def test_a_tls_mismatch_fails_the_first_task_at_once_in_one_line(
    secure_engine, engine, airflow_db, tmp_path, client
):
    """What dbt alone says: "TSocket read 0 bytes" or "Could not connect to any of [...]", five times,
    a minute apart (retry_all)."""
    user, password = secure_engine.config.ldap.service_user()
    if client == "plain-client-tls-server":
        port = secure_engine.config.port
        connection = secure_connection(secure_engine, login=user, password=password, extra={"use_ssl": False})
        cause = 'speaks TLS and this connection does not: set "use_ssl": true in the connection\'s extra'
    else:
        port = int(engine.port)
        connection = {"host": "127.0.0.1", "port": port, "extra": {"use_ssl": True}}
        cause = f"use_ssl is set but the server at 127.0.0.1:{port} does not speak TLS"
    proc, took = run_dag(tmp_path, **connection)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-3000:]
    assert "DbtSparkOperatorError: Kyuubi connection 'kyuubi_default' " in output and cause in output
    assert "not retried" in output and "Running the pod's command" not in output
    assert took < 90, took
    assert password not in output


def test_kubernetes_pods_log_in_over_tls_with_the_password_from_their_secret(
    secure_engine, airflow_db, monkeypatch, tmp_path
):
    """tests/user_dags/shop.py in Kubernetes execution with an LDAP + TLS connection: each pod, as the
    worker builds it, carries the password only as a Secret reference; its command, args and env, run
    here as local processes with that Secret's value, log in over TLS and build the project."""
    from airflow.dag_processing.dagbag import DagBag

    from dbt_spark_operator.runtime.local_process import run_locally
    from dbt_spark_operator.runtime.rendered_pod import pod_body, render_pod

    user, password = secure_engine.config.ldap.service_user()
    monkeypatch.setenv("DBT_SPARK_EXECUTION", "kubernetes")
    monkeypatch.setenv(*kyuubi_connection(**secure_connection(secure_engine, login=user, password=password)))
    bag = DagBag(dag_folder=str(ROOT / "tests" / "user_dags" / "shop.py"))
    assert bag.import_errors == {}
    dag = bag.dags["shop"]
    secure_query(secure_engine, "DROP TABLE IF EXISTS shop.shop_prices")
    shop = ROOT / "tests" / "dbt_projects" / "shop"
    ran = []
    for task in dag.topological_sort():
        pod = render_pod(task)
        manifest = json.dumps(pod_body(pod))
        assert (
            password not in manifest
            and '"secretKeyRef": {"key": "password", "name": "kyuubi-credentials"}' in manifest
        )
        profile = next(e.value for e in pod.spec.containers[0].env if e.name == "DBT_SPARK_PROFILE_YAML")
        assert "use_ssl: true" in profile and "auth: LDAP" in profile
        lines: list[str] = []
        workdir = tmp_path / task.task_id
        workdir.mkdir()
        # What the kubelet would put in the env from the Secret.
        secret = task.dbt_setup.read_connection(check_endpoint=False).secret_env
        rc, _ = run_locally(pod, workdir, secret, lines.append, project=shop)
        assert rc == 0, (task.task_id, "\n".join(lines)[-4000:])
        assert password not in "\n".join(lines)
        ran.append(task.task_id)
    assert len(ran) == 7 and ran[0] == "dbt_deps"
    assert secure_query(secure_engine, "SELECT count(*) FROM shop.shop_prices") == [(3,)]
