"""What the suites share besides fixtures: the session's paths, the console scripts, DAG parsing in a
fresh interpreter, Airflow stacks, queries on the engines. Test modules import it as ``helpers``
(tests/ is on the import path, as for conftest.py).

Nothing here imports Airflow or the package's modules at import time: conftest.py sets Airflow's
environment from these paths first, and Airflow reads its settings once, at import."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbt_spark_operator.dev.airflow_stack import AirflowStack
    from dbt_spark_operator.dev.engine import EngineStatus, LocalEngine

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SESSION_DIR = Path(tempfile.mkdtemp(prefix="dbt-spark-operator-tests-"))
# The newest Kubernetes schema kubernetes-validate ships: every manifest is checked against it.
K8S_VERSION = "1.37.0"

PROJECT = ROOT / "dbt" / "analytics"

# The write-up's five rows of simple_pipeline: the contract of the analytics project.
EXPECTED_SIMPLE_PIPELINE = [
    (1, "Alice Johnson", "alice@example.com", "Engineering", 25, "Young Professional"),
    (2, "Bob Smith", "bob@example.com", "Marketing", 30, "Mid-Career"),
    (3, "Charlie Brown", "charlie@example.com", "Sales", 35, "Mid-Career"),
    (4, "Diana Prince", "diana@example.com", "Engineering", 28, "Young Professional"),
    (5, "Eve Wilson", "eve@example.com", "Marketing", 32, "Mid-Career"),
]


# The unit suite's analytics manifest (conftest.py installs it in the project's target/ when the
# session holds no integration test): dbt parse's, normalized by normalized_manifest. The integration
# suite compares it with a fresh parse (tests/integration/test_fixture_manifest.py).
FIXTURE_MANIFEST = ROOT / "tests" / "manifests" / "analytics.json"
# What differs from one parse to the next: when and by which invocation.
_PARSE_METADATA = ("generated_at", "invocation_id", "invocation_started_at", "run_started_at")


def normalized_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """dbt's manifest as the unit suite keeps it: everything the package and Cosmos read, without dbt's
    own macros and docs, the times and ids of the parse, and the checkout's path (a seed's
    ``root_path``, ``.``)."""
    kept = {key: value for key, value in manifest.items() if key not in ("macros", "docs")}
    kept["metadata"] = {k: v for k, v in manifest["metadata"].items() if k not in _PARSE_METADATA}
    for section in kept.values():
        for node in section.values() if isinstance(section, dict) else ():
            if isinstance(node, dict):
                node.pop("created_at", None)
                if "root_path" in node:
                    node["root_path"] = "."
    return kept


def manifest_text(manifest: dict[str, Any]) -> str:
    """A manifest as FIXTURE_MANIFEST holds it: sorted keys, one per line."""
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def install_fixture_manifest() -> Path:
    """FIXTURE_MANIFEST as the analytics project's ``target/manifest.json`` (a seed's ``root_path``, the
    project's directory): what DAG parsing reads, with no dbt run."""
    manifest = json.loads(FIXTURE_MANIFEST.read_text())
    for node in manifest["nodes"].values():
        if "root_path" in node:
            node["root_path"] = str(PROJECT)
    path = PROJECT / "target" / "manifest.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(manifest))
    return path


def free_port() -> int:
    """A free TCP port of 127.0.0.1."""
    from dbt_spark_operator.dev.airflow_stack import free_port as port

    return port()


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the console script as a user would."""
    return subprocess.run(
        [str(BIN / "dbt-spark-operator"), *args],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def dbt(*args: str) -> subprocess.CompletedProcess:
    """Run dbt on the analytics project against the session engine."""
    return subprocess.run(
        [str(BIN / "dbt"), *args, "--project-dir", str(PROJECT)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def query(sql: str) -> list[tuple]:
    from dbt_spark_operator.dev.engine import run_query

    return run_query("127.0.0.1", int(os.environ["DBT_SPARK_LOCAL_PORT"]), sql)


PARSE_DAGS = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
result = {"errors": {}, "dags": {}}
for folder in sys.argv[1:]:
    bag = DagBag(dag_folder=folder)
    result["errors"].update({f: e.strip().splitlines()[-1] for f, e in bag.import_errors.items()})
    result["dags"].update({d: len(bag.dags[d].tasks) for d in bag.dag_ids})
print(json.dumps(result))
"""


def python_json(script: str, *args: str, env: dict[str, str], wrapper: tuple[str, ...] = ()) -> Any:
    """Run ``script`` in a fresh interpreter of this venv; its last line of output, as JSON. ``wrapper``
    runs the interpreter (``sh -c 'mount ...; exec "$0" "$@"'``)."""
    proc = subprocess.run(
        [*wrapper, str(BIN / "python"), "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def parse_dags(folders: list[Path], env: dict[str, str], wrapper: tuple[str, ...] = ()) -> dict:
    """Parse DAG folders in a fresh interpreter as Airflow's DagBag does: ``{"errors": {file: last
    line}, "dags": {dag_id: task count}}``."""
    return python_json(PARSE_DAGS, *map(str, folders), env=env, wrapper=wrapper)


def parse_env(execution: str, connection: dict | None, asked: Path) -> dict[str, str]:
    """No connection anywhere but a secrets backend that is down (or the given connection), and a
    metadata database that does not answer: what a CI integrity check or a laptop has. Every look-up
    the backend gets is written to ``asked``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        DBT_SPARK_EXECUTION=execution,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://nobody@127.0.0.1:1/nothing",
        AIRFLOW__SECRETS__BACKEND="down_secrets.DownSecretsBackend",
        DOWN_SECRETS_LOG=str(asked),
        PYTHONPATH=str(ROOT / "tests"),
    )
    if connection is not None:
        env.update([kyuubi_connection(**connection)])
    return env


def dags_test(dag_id: str, dags_folder: Path, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """``airflow dags test`` of ``dag_id`` from ``dags_folder`` (this session's SQLite Airflow), with
    ``env`` on top of this process's environment; the finished process and its seconds."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", dag_id],
        env={**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder), **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    return proc, time.monotonic() - started


# Not the Airflow services' own settings: the stack sets those. Not the test session's dbt target and
# log paths either: parallel tasks each get their own from Cosmos.
STACK_DROP_ENV = (
    "AIRFLOW_CONN_",
    "AIRFLOW__CORE__",
    "AIRFLOW__DATABASE__",
    "DBT_TARGET_PATH",
    "DBT_LOG_PATH",
)


@contextlib.contextmanager
def running_stack(
    name: str,
    dag_files: list[Path],
    connections: dict[str, dict],
    env: dict[str, str] | None = None,
    users: dict[str, str] | None = None,
) -> Iterator[AirflowStack]:
    """A real Airflow (its four services on PostgreSQL) with ``dag_files`` as its DAGs and
    ``connections``, under ``SESSION_DIR/<name>``; stopped at the end, with nothing left running."""
    from dbt_spark_operator.dev.airflow_stack import AirflowStack, Postgres

    postgres = Postgres(free_port())
    postgres.start()
    dags = SESSION_DIR / name / "dags"
    dags.mkdir(parents=True)
    for dag_file in dag_files:
        (dags / dag_file.name).symlink_to(dag_file)
    stack_env = {k: v for k, v in os.environ.items() if not k.startswith(STACK_DROP_ENV)}
    airflow = AirflowStack(
        SESSION_DIR / name / "airflow",
        dags,
        postgres.url,
        free_port(),
        {**stack_env, **(env or {})},
        users=users,
    )
    try:
        airflow.start(connections=connections)
        yield airflow
    finally:
        airflow.stop()
        leftovers = airflow.leftovers()
        postgres.stop()
    assert leftovers == [], f"processes left running: {leftovers}"


def engine_sql(engine: EngineStatus, statement: str) -> list[tuple[Any, ...]]:
    """One statement on ``engine``."""
    from dbt_spark_operator.dev.engine import run_query

    return run_query(engine.host, engine.port, statement, timeout=120)


def give_watched_input(engine: EngineStatus) -> None:
    """tests/dbt_projects/watched's table outside dbt, five rows: the tests drop it to fail a model."""
    engine_sql(engine, "CREATE DATABASE IF NOT EXISTS watched")
    engine_sql(engine, "DROP TABLE IF EXISTS watched.watched_input")
    engine_sql(engine, "CREATE TABLE watched.watched_input (n INT, label STRING) USING iceberg")
    engine_sql(engine, "INSERT INTO watched.watched_input VALUES (1,'a'),(2,'b'),(3,'c'),(4,'d'),(5,'e')")


def kyuubi_connection(conn_id: str = "kyuubi_default", **fields: object) -> tuple[str, str]:
    """An Airflow connection as the environment variable Airflow reads it from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kyuubi", **fields})


def secure_query(engine: LocalEngine, sql: str) -> list[tuple]:
    """``sql`` on the secure engine, logged in as its service user over TLS."""
    from dbt_spark_operator.dev.engine import run_query

    cfg = engine.config
    return run_query(cfg.host, cfg.port, sql, timeout=120, credentials=cfg.credentials(), tls=True)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """A failed command's stderr: one line, no traceback."""
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


# Relations and objects compared by what they hold below, not by identity.
NOT_SETTINGS = {
    "upstream_task_ids",
    "downstream_task_ids",
    "task_group",
    "_BaseOperator__init_kwargs",
    "profile_config",
    "dbt_setup",
}


def task_settings(task: Any) -> dict[str, str]:
    """A task's settings, each as its repr: two renderings of one task compare equal."""
    return {k: repr(v) for k, v in vars(task).items() if k not in NOT_SETTINGS}


# What a local task process imports, in a fresh interpreter: optionally preload, then do what a local
# task process does (parse the DAG file, run dbt in-process), and print the heavy packages that were
# imported only then.
HEAVY = ("dbt", "dbt_common", "cosmos", "kubernetes", "kubernetes_asyncio", "pyhive", "agate", "networkx")
TASK_PROCESS = """
import importlib.util, json, sys
import airflow.sdk
from airflow.sdk.execution_time import task_runner
if sys.argv[1] == "warm":
    from dbt_spark_operator.runtime.warm_executor import preload
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


def task_process_imports(mode: str, tmp_path: Path) -> dict[str, list[str]]:
    """What a local task process of a ``dbt_task_group`` DAG imports: ``parse``, the top-level packages
    parsing its DAG file imported; ``heavy``, the heavy modules imported from then on. ``mode``
    ``warm``: the warm executor's preload first, and dbt parse in-process after the DAG; ``cold``: the
    DAG file alone."""
    from dbt_spark_operator.dev.demo import airflow_env

    dag = tmp_path / "group_only.py"
    dag.write_text(GROUP_ONLY_DAG)
    env = airflow_env(ROOT)
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow"), DBT_PROFILES_DIR=str(ROOT / "profiles"))
    args = (mode, str(dag), str(ROOT / "dbt" / "analytics"), str(tmp_path / "target"), ",".join(HEAVY))
    return python_json(TASK_PROCESS, *args, env=env)


def one_shot_server(reply: bytes | None) -> int:
    """A server on a free port of 127.0.0.1 that reads what the client sends first, answers ``reply`` (or
    nothing) and hangs up; its port."""
    import contextlib
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(0.5)
            with contextlib.suppress(TimeoutError):  # all the client sends before it waits for an answer
                while conn.recv(4096):
                    pass
            if reply:
                conn.sendall(reply)
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    port: int = server.getsockname()[1]
    return port
