"""Session set-up: an isolated Airflow home and a real local engine on its own port. Fixtures and hooks
only: what tests import lives in helpers.py."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from helpers import BIN, PROJECT, ROOT, SESSION_DIR, free_port, install_fixture_manifest

# CI examines the same examples every run (a landing is not a lottery); elsewhere each run explores anew.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# A kubeconfig naming a cluster that is never contacted: KubernetesPodOperator asks it whether the
# worker runs in-cluster while it builds a pod. The kubernetes client reads KUBECONFIG at import. The
# cluster suite (tests/cluster, inside the development cluster's network: DBT_SPARK_CLUSTER_DIR) keeps
# the real one that tools/cluster/exec sets.
KUBECONFIG = SESSION_DIR / "kubeconfig"
KUBECONFIG.write_text(
    json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": "https://127.0.0.1:6443"}}],
            "users": [{"name": "test", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        }
    )
)
if os.environ.get("DBT_SPARK_CLUSTER_DIR") and os.environ.get("KUBECONFIG"):
    KUBECONFIG = Path(os.environ["KUBECONFIG"])

# Before anything imports Airflow: its settings are read once, at import.
os.environ.update(
    KUBECONFIG=str(KUBECONFIG),
    AIRFLOW_HOME=str(SESSION_DIR / "airflow"),
    DBT_SPARK_ENGINE_HOME=str(SESSION_DIR / "engine"),
    DBT_SPARK_LOCAL_PORT=os.environ.get("DBT_SPARK_TEST_PORT", "10011"),
    DBT_TARGET="local",
    DBT_PROFILES_DIR=str(ROOT / "profiles"),
    DBT_TARGET_PATH=str(SESSION_DIR / "dbt-target"),
    DBT_LOG_PATH=str(SESSION_DIR / "dbt-logs"),
    DBT_SPARK_PROJECTS_DIR=str(ROOT / "dbt"),  # this checkout's, wherever the package is installed
    DBT_SPARK_STATE_DIR=str(SESSION_DIR / "state"),  # packages (dbt deps) and docs shared by tasks
    DBT_PACKAGES_DIR=str(SESSION_DIR / "state" / "packages" / "analytics"),  # for dbt run directly
)
from dbt_spark_operator.dev.demo import airflow_env  # noqa: E402
from dbt_spark_operator.dev.engine import EngineStatus, LocalEngine  # noqa: E402

os.environ.update(airflow_env(ROOT))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``unit`` for tests/unit and its folders (no engine, no Airflow services, no dbt subprocess:
    ``make test-unit``), ``integration`` for the other suites."""
    unit = ROOT / "tests" / "unit"
    for item in items:
        item.add_marker("unit" if unit in Path(str(item.path)).resolve().parents else "integration")


@pytest.fixture(scope="session")
def manifest() -> Path:
    """DAG parsing reads target/manifest.json: refresh it from the project once per session."""
    from dbt_spark_operator.project.paths import write_manifest

    return write_manifest(PROJECT)


@pytest.fixture(scope="session", autouse=True)
def _analytics_manifest(request: pytest.FixtureRequest) -> Iterator[None]:
    """The analytics project's manifest, before every other fixture. Integration tests render it
    (Airflow's services parse it too, from module fixtures): when the session holds any, dbt parse's.
    Otherwise the unit suite's committed one (helpers.FIXTURE_MANIFEST), and no dbt process at all:
    dbt started by this process fails at once, and a dbt project's target/ or the session's dbt log
    written by any process (a DAG parsed in a fresh interpreter, a command) fails the session."""
    if any(item.get_closest_marker("integration") for item in request.session.items):
        request.getfixturevalue("manifest")
        yield
        return
    install_fixture_manifest()
    before = _dbt_outputs()
    original = subprocess.Popen._execute_child

    def refuse_dbt(self: subprocess.Popen, args: Any, executable: Any, *rest: Any, **kwargs: Any) -> Any:
        single = isinstance(args, (str, bytes, os.PathLike))  # a command line (shell=True) or a program
        argv = os.fsdecode(args).split() if single else [os.fsdecode(a) for a in args]
        if argv and (Path(argv[0]).name == "dbt" or argv[1:3] == ["-m", "dbt"]):
            raise AssertionError(f"the unit suite runs no dbt: {shlex.join(argv)}")
        return original(self, args, executable, *rest, **kwargs)

    subprocess.Popen._execute_child = refuse_dbt
    try:
        yield
    finally:
        subprocess.Popen._execute_child = original
    written = sorted(str(path) for path, mtime in _dbt_outputs().items() if before.get(path) != mtime)
    assert written == [], f"dbt ran during the unit suite: it wrote {written}"


def _dbt_outputs() -> dict[Path, int]:
    """What dbt writes when it runs here, each file with its modification time: the dbt projects'
    target/ folders and the session's dbt log (DBT_LOG_PATH)."""
    folders = [*ROOT.glob("dbt/*/target"), *ROOT.glob("tests/dbt_projects/*/target")]
    folders.append(Path(os.environ["DBT_LOG_PATH"]))
    files = [path for folder in folders for path in folder.rglob("*") if path.is_file()]
    return {path: path.stat().st_mtime_ns for path in files}


@pytest.fixture(scope="session")
def engine() -> EngineStatus:
    """The real local engine for the whole session; stopped (group and all) at the end."""
    local = LocalEngine()
    status = local.up()
    yield status
    local.down()


@pytest.fixture(scope="session")
def secure_engine() -> LocalEngine:
    """A second engine that checks logins against a throw-away OpenLDAP and speaks only TLS
    (``engine up --auth ldap --tls``); its group (slapd included) stopped at the end."""
    from dbt_spark_operator.dev.airflow_stack import processes_using
    from dbt_spark_operator.dev.engine import EngineConfig

    home = SESSION_DIR / "engine-secure"
    engine = LocalEngine(EngineConfig.from_env(home=home, port=free_port(), auth="ldap", tls=True))
    status = engine.up()
    assert status.auth == "ldap" and status.tls and "TLS" in status.describe()
    assert {p.name() for p in processes_using(home)} >= {"slapd", "java"}
    yield engine
    engine.down()
    assert processes_using(home) == []  # slapd went with the engine's process group


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's engine is down by now (its fixture stopped it); drop its files."""
    shutil.rmtree(SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The session's Airflow metadata database (SQLite under AIRFLOW_HOME), migrated."""
    proc = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Path(os.environ["AIRFLOW_HOME"])
