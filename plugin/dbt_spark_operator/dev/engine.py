"""The local engine: a real Spark SQL thrift endpoint with an Iceberg warehouse on this machine.

It speaks the same HiveServer2 thrift protocol as Apache Kyuubi on port 10009, so dbt-spark's
``method: thrift`` profile reaches it exactly as it reaches Kyuubi in a cluster. Kyuubi's own jars are
not served by the Maven Central mirror this project can reach (see docs/local-engine.md), so the
server is Spark's HiveThriftServer2 from the pyspark wheel: the same Spark 3.5 a Kyuubi engine runs.

State (warehouse, metastore, log, pid file) lives under one home directory; jars are downloaded once
into a cache directory. ``up`` is idempotent, ``down`` stops the whole process group and keeps data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt_spark_operator.dev.engine_tls import EngineCertificate
from dbt_spark_operator.dev.ldap_directory import LdapDirectory
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.process_group import group_alive, stop_group

ICEBERG_VERSION = "1.10.0"
SPARK_LINE = "3.5"
SCALA_BINARY = "2.12"
MAVEN_REPO = "https://repo1.maven.org/maven2"
DEFAULT_PORT = 10009
CATALOG = "iceberg"
AUTH_MODES = ("none", "ldap")


class EngineError(DbtSparkOperatorError):
    """The local engine could not be started, stopped or reached."""


@dataclass(frozen=True)
class Jar:
    group: str
    artifact: str
    version: str

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.jar"

    def url(self, repo: str) -> str:
        return f"{repo}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.filename}"


JARS = (
    Jar("org.apache.iceberg", f"iceberg-spark-runtime-{SPARK_LINE}_{SCALA_BINARY}", ICEBERG_VERSION),
    Jar("com.h2database", "h2", "2.3.232"),  # the Iceberg JDBC catalog's store
)


def _default_home() -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return state / "dbt-spark-operator" / "engine"


def _default_jar_cache() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "dbt-spark-operator" / "jars"


@dataclass(frozen=True)
class EngineConfig:
    """Where the engine keeps its state and where it listens."""

    home: Path = field(default_factory=_default_home)
    port: int = DEFAULT_PORT
    host: str = "127.0.0.1"
    jar_cache: Path = field(default_factory=_default_jar_cache)
    start_timeout: float = 240.0
    driver_memory: str = "2g"
    maven_repo: str = MAVEN_REPO
    auth: str = "none"  # "ldap": logins checked against a throw-away OpenLDAP (ldap_directory.py)
    tls: bool = False  # the thrift endpoint over TLS, self-signed certificate (engine_tls.py)

    def __post_init__(self) -> None:
        if self.auth not in AUTH_MODES:
            raise EngineError(f"auth must be one of {', '.join(AUTH_MODES)}, got {self.auth!r}")

    @classmethod
    def from_env(cls, **overrides: object) -> EngineConfig:
        """Defaults, then ``DBT_SPARK_ENGINE_HOME`` / ``DBT_SPARK_LOCAL_PORT`` / ..., then explicit values."""
        env = os.environ
        values: dict[str, object] = {}
        if env.get("DBT_SPARK_ENGINE_HOME"):
            values["home"] = Path(env["DBT_SPARK_ENGINE_HOME"])
        if env.get("DBT_SPARK_LOCAL_PORT"):
            values["port"] = _port(env["DBT_SPARK_LOCAL_PORT"])
        if env.get("DBT_SPARK_JAR_CACHE"):
            values["jar_cache"] = Path(env["DBT_SPARK_JAR_CACHE"])
        if env.get("DBT_SPARK_MAVEN_REPO"):
            values["maven_repo"] = env["DBT_SPARK_MAVEN_REPO"].rstrip("/")
        if env.get("DBT_SPARK_ENGINE_AUTH"):
            values["auth"] = env["DBT_SPARK_ENGINE_AUTH"].lower()
        if env.get("DBT_SPARK_ENGINE_TLS"):
            values["tls"] = env["DBT_SPARK_ENGINE_TLS"].lower() in ("1", "true", "yes")
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "home" in values:
            values["home"] = Path(values["home"]).resolve()  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse"

    @property
    def log_path(self) -> Path:
        return self.home / "engine.log"

    @property
    def state_path(self) -> Path:
        return self.home / "engine.json"

    @property
    def ldap(self) -> LdapDirectory:
        return LdapDirectory(self.home / "ldap")

    @property
    def certificate(self) -> EngineCertificate:
        return EngineCertificate(self.home / "tls")

    def credentials(self) -> dict[str, str]:
        """How a client logs in: nothing without auth; the service user with LDAP."""
        if self.auth != "ldap":
            return {}
        user, password = self.ldap.service_user()
        return {"username": user, "password": password, "auth": "LDAP"}


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise EngineError(f"port must be a number from 1 to 65535, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class EngineStatus:
    running: bool
    pid: int | None
    host: str
    port: int
    home: Path
    log_path: Path
    started_seconds: float | None = None  # start-up time of the ``up`` that started it
    auth: str = "none"
    tls: bool = False

    def describe(self) -> str:
        if not self.running:
            return f"stopped (home {self.home})"
        login = f", auth LDAP (users and passwords in {self.home / 'ldap' / 'users.json'})"
        tls = f", TLS (self-signed certificate {self.home / 'tls' / 'engine.pem'}; connect with use_ssl)"
        return (
            f"running: pid {self.pid}, thrift on {self.host}:{self.port}"
            + (login if self.auth == "ldap" else "")
            + (tls if self.tls else "")
            + f", warehouse {self.home / 'warehouse'}, log {self.log_path}"
        )


class LocalEngine:
    """Start, stop and inspect the local Spark thrift server with its Iceberg catalog."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig.from_env()

    # --- inspection -------------------------------------------------------------------------

    def _state(self) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads(self.config.state_path.read_text())
            return state
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def status(self) -> EngineStatus:
        cfg = self.config
        state = self._state()
        if state and group_alive(state["pid"]):
            return EngineStatus(
                True,
                state["pid"],
                state["host"],
                state["port"],
                cfg.home,
                cfg.log_path,
                state.get("started_seconds"),
                state.get("auth", "none"),
                state.get("tls", False),
            )
        return EngineStatus(
            False, None, cfg.host, cfg.port, cfg.home, cfg.log_path, auth=cfg.auth, tls=cfg.tls
        )

    # --- start --------------------------------------------------------------------------------

    def up(self) -> EngineStatus:
        """Start the engine and wait until a query succeeds; harmless when it already runs."""
        current = self.status()
        if current.running:
            wanted = (self.config.port, self.config.auth, self.config.tls)
            if (current.port, current.auth, current.tls) != wanted:
                raise EngineError(
                    f"the engine in {self.config.home} already runs on port {current.port} with auth "
                    f"{current.auth}, TLS {'on' if current.tls else 'off'}, not {self.config.port} with "
                    f"{self.config.auth}, TLS {'on' if self.config.tls else 'off'}: "
                    "run 'dbt-spark-operator engine down' first"
                )
            _wait_for_query(
                current.host,
                current.port,
                time.monotonic() + self.config.start_timeout,
                None,
                self.config.log_path,
                self.config.credentials(),
                tls=current.tls,
            )
            return current
        cfg = self.config
        java = find_java()
        spark_home = find_spark_home()
        _check_port_free(cfg.host, cfg.port)
        jars = ensure_jars(cfg.jar_cache, cfg.maven_repo)
        conf_dir = cfg.home / "conf"
        conf_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(conf_dir, 0o700)
        if cfg.tls:
            cfg.certificate.prepare(java, cfg.host)
            cfg.certificate.write_hive_site(conf_dir)
        else:
            (conf_dir / "hive-site.xml").unlink(missing_ok=True)
        ldap_url = None
        if cfg.auth == "ldap":
            cfg.ldap.prepare()
            ldap_url = f"ldap://{cfg.host}:{_free_port(cfg.host)}/"

        started = time.monotonic()
        env = {
            **os.environ,
            "SPARK_HOME": str(spark_home),
            "JAVA_HOME": str(java.parent.parent),
            "SPARK_LOCAL_IP": cfg.host,
            "SPARK_CONF_DIR": str(cfg.home / "conf"),
        }
        with open(cfg.log_path, "ab") as log:
            log.write(f"\n=== engine up {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
            log.flush()
            proc = subprocess.Popen(
                self.command(spark_home, jars, ldap_url),
                cwd=cfg.home,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        state = {"pid": proc.pid, "host": cfg.host, "port": cfg.port, "auth": cfg.auth, "tls": cfg.tls}
        cfg.state_path.write_text(json.dumps(state))
        try:
            _wait_for_query(
                cfg.host,
                cfg.port,
                started + cfg.start_timeout,
                proc,
                cfg.log_path,
                cfg.credentials(),
                tls=cfg.tls,
            )
        except BaseException:
            stop_group(proc.pid, proc=proc)
            cfg.state_path.unlink(missing_ok=True)
            raise
        state["started_seconds"] = round(time.monotonic() - started, 1)
        cfg.state_path.write_text(json.dumps(state))
        return self.status()

    def command(self, spark_home: Path, jars: list[Path], ldap_url: str | None = None) -> list[str]:
        """The spark-submit argv of the thrift server; with ``ldap_url``, slapd started first in the same
        process group (so that ``down`` stops both) and the server's logins checked against it."""
        cfg = self.config
        conf = {
            "spark.master": "local[2]",
            "spark.driver.memory": cfg.driver_memory,
            "spark.driver.host": cfg.host,
            "spark.driver.bindAddress": cfg.host,
            "spark.ui.enabled": "false",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
            # An Iceberg JDBC catalog (an H2 file) as the default catalog: Iceberg tables and Iceberg
            # views (dbt-spark's snapshot staging needs a view in the current catalog).
            f"spark.sql.catalog.{CATALOG}": "org.apache.iceberg.spark.SparkCatalog",
            f"spark.sql.catalog.{CATALOG}.type": "jdbc",
            # H2 in the engine's JVM: row locks, so parallel tasks commit side by side (a SQLite file
            # failed them with SQLITE_BUSY_SNAPSHOT); lower-case names, as Iceberg's schema check expects.
            f"spark.sql.catalog.{CATALOG}.uri": (
                f"jdbc:h2:file:{cfg.home / 'iceberg_catalog'};DATABASE_TO_LOWER=TRUE;LOCK_TIMEOUT=60000"
            ),
            f"spark.sql.catalog.{CATALOG}.clients": "1",
            f"spark.sql.catalog.{CATALOG}.jdbc.schema-version": "V1",
            f"spark.sql.catalog.{CATALOG}.warehouse": cfg.warehouse.as_uri(),
            "spark.sql.defaultCatalog": CATALOG,
            "spark.sql.warehouse.dir": (cfg.home / "spark-warehouse").as_uri(),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={cfg.home}",
            # On the driver's system class path, not --jars: the thrift server's session class loader
            # does not see --jars classes from catalog code (NoClassDefFoundError on SHOW TABLES).
            "spark.driver.extraClassPath": os.pathsep.join(str(j) for j in jars),
        }
        hiveconf = {
            "hive.server2.thrift.port": str(cfg.port),
            "hive.server2.thrift.bind.host": cfg.host,
            "javax.jdo.option.ConnectionURL": (
                f"jdbc:derby:;databaseName={cfg.home / 'metastore_db'};create=true"
            ),
        }
        argv = [
            str(spark_home / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
            "--name",
            "dbt-spark-operator-local-engine",
        ]
        for key, value in conf.items():
            argv += ["--conf", f"{key}={value}"]
        argv.append("spark-internal")
        if ldap_url:
            hiveconf.update(LdapDirectory.hiveconf(ldap_url))
        for key, value in hiveconf.items():
            argv += ["--hiveconf", f"{key}={value}"]
        if ldap_url:
            slapd = " ".join(shlex.quote(a) for a in cfg.ldap.command(ldap_url))
            return ["/bin/sh", "-c", f'{slapd} & exec "$@"', "local-engine", *argv]
        return argv

    # --- stop ---------------------------------------------------------------------------------

    def down(self) -> bool:
        """Stop every process the engine started; keep the warehouse. False if it was not running."""
        state = self._state()
        if not state:
            return False
        was_running = group_alive(state["pid"])
        stop_group(state["pid"])
        self.config.state_path.unlink(missing_ok=True)
        return was_running


# --- preconditions --------------------------------------------------------------------------------


def find_java() -> Path:
    """The java binary (JAVA_HOME first, then PATH), checked to be a version Spark 3.5 runs on."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is None or not candidate.exists():
        found = shutil.which("java")
        candidate = Path(found).resolve() if found else None
    if candidate is None:
        raise EngineError(
            "Java not found: install Java 17 (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    out = subprocess.run([str(candidate), "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):
        major = int(match.group(2))
    if major not in (11, 17, 21):
        raise EngineError(
            f"Java {major or '?'} at {candidate} cannot run Spark {SPARK_LINE}: "
            "install Java 17 or point JAVA_HOME at it"
        )
    return candidate


def find_spark_home() -> Path:
    """Spark as shipped in the pyspark wheel (the ``local`` extra)."""
    try:
        import pyspark
    except ImportError:
        raise EngineError("pyspark is not installed: pip install 'dbt-spark-operator[local]'") from None
    home = Path(pyspark.__file__).parent
    if not pyspark.__version__.startswith(SPARK_LINE + "."):
        raise EngineError(f"pyspark {pyspark.__version__} installed; the local engine needs {SPARK_LINE}.x")
    if not list((home / "jars").glob("spark-hive-thriftserver_*.jar")):
        raise EngineError(f"pyspark at {home} has no spark-hive-thriftserver jar")
    return home


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise EngineError(
                f"port {port} on {host} is in use by another process (not this engine): "
                "stop it or choose another with --port / DBT_SPARK_LOCAL_PORT"
            ) from None


def ensure_jars(cache: Path, repo: str = MAVEN_REPO) -> list[Path]:
    """Download the engine's jars once (checked against Maven's SHA-1) and return their paths."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for jar in JARS:
        path = cache / jar.filename
        if not path.exists():
            _download(jar.url(repo), path)
        paths.append(path)
    return paths


def _download(url: str, path: Path) -> None:
    part = path.with_suffix(".part")
    try:
        with urllib.request.urlopen(url + ".sha1", timeout=60) as resp:
            expected = resp.read().decode().split()[0].strip()
        digest = hashlib.sha1()
        with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise EngineError(f"could not download {url}: {exc}") from None
    if digest.hexdigest() != expected:
        part.unlink(missing_ok=True)
        raise EngineError(f"checksum mismatch for {url}: got {digest.hexdigest()}, expected {expected}")
    part.rename(path)


# --- process group and readiness -------------------------------------------------------------------


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def run_query(
    host: str,
    port: int,
    sql: str,
    timeout: float = 30.0,
    configuration: dict[str, str] | None = None,
    credentials: dict[str, str] | None = None,
    *,
    tls: bool = False,
) -> list[tuple[Any, ...]]:
    """Run one statement over thrift (PyHive, as dbt-spark does) and return its rows. ``credentials``:
    ``username``, ``password`` and ``auth`` (``LDAP``) for an engine that checks logins; ``tls``: over
    TLS, with dbt-spark's own ``use_ssl`` transport (which does not verify the certificate)."""
    from pyhive import hive

    result: dict[str, object] = {}

    def work() -> None:
        try:
            login = credentials or {"username": "admin"}
            if tls:
                from dbt.adapters.spark.connections import build_ssl_transport

                transport = build_ssl_transport(
                    host, port, login["username"], login.get("auth", "NONE"), "", login.get("password")
                )
                conn = hive.connect(thrift_transport=transport, configuration=configuration)
            else:
                conn = hive.connect(host=host, port=port, configuration=configuration, **login)
            try:
                cur = conn.cursor()
                cur.execute(sql)
                try:
                    result["rows"] = cur.fetchall()
                except TypeError:  # PyHive cannot fetch the empty result of DDL/DML from Spark 3.5
                    result["rows"] = []
            finally:
                conn.close()
        except Exception as exc:  # reported to the caller below
            result["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise EngineError(f"query on {host}:{port} did not answer within {timeout:.0f} s: {sql}")
    if "error" in result:
        raise EngineError(f"query on {host}:{port} failed: {str(result['error']).splitlines()[0]}")
    return result["rows"]  # type: ignore[return-value]


def _wait_for_query(
    host: str,
    port: int,
    deadline: float,
    proc: subprocess.Popen[bytes] | None,
    log_path: Path,
    credentials: dict[str, str] | None = None,
    *,
    tls: bool = False,
) -> None:
    while True:
        if proc is not None and proc.poll() is not None:
            raise EngineError(f"engine failed (exit {proc.returncode}): see {log_path}")
        if _port_answers(host, port):
            try:
                # Every session (PyHive, dbt) starts with ``USE default``: create that namespace in the
                # Iceberg catalog from a session whose ``USE`` resolves in Spark's built-in catalog.
                run_query(
                    host,
                    port,
                    f"CREATE NAMESPACE IF NOT EXISTS {CATALOG}.default",
                    timeout=30,
                    configuration={"set:hiveconf:spark.sql.defaultCatalog": "spark_catalog"},
                    credentials=credentials,
                    tls=tls,
                )
                if run_query(host, port, "SELECT 1", timeout=30, credentials=credentials, tls=tls) == [(1,)]:
                    return
            except EngineError:
                pass
        if time.monotonic() > deadline:
            raise EngineError(f"engine did not answer a query on {host}:{port} in time: see {log_path}")
        time.sleep(1)
