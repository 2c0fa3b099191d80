"""``dbt-spark-operator ui`` (``make ui``): the local engine and ``airflow standalone`` with the project's
DAGs in local execution, until Ctrl-C; then both stop (the engine only if this command started it)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx

from dbt_spark_operator.dev.demo import airflow_env
from dbt_spark_operator.dev.engine import LocalEngine
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.process_group import stop_group
from dbt_spark_operator.project.paths import write_manifest


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DbtSparkOperatorError(f"airflow standalone exited with {proc.returncode}: see {log}")
        try:
            health = httpx.get(f"{url}/api/v2/monitor/health", timeout=5).json()
            if all((health.get(p) or {}).get("status") == "healthy" for p in ("metadatabase", "scheduler")):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(2)
    raise DbtSparkOperatorError(f"Airflow did not answer on {url} in {timeout:.0f} s: see {log}")


def run_ui(port: int = 8080, host: str = "127.0.0.1") -> int:
    """Serve Airflow's UI on ``host:port`` (loopback unless asked otherwise) until interrupted; every
    process started here is stopped on exit."""
    env = airflow_env()
    env["AIRFLOW__API__PORT"] = str(port)
    env["AIRFLOW__API__HOST"] = host
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    engine = LocalEngine()
    started_engine = not engine.status().running
    print(f"engine {engine.up().describe()}", flush=True)
    proc = None
    # Ctrl-C reaches the whole terminal group; SIGTERM (a supervisor) is handled the same way. SIGINT is
    # set explicitly: a process started in the background by a script inherits it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        write_manifest("analytics")
        log = home / "standalone.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ["airflow", "standalone"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log)
        passwords = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
        print(f"Airflow UI: {url}  login: admin / {passwords['admin']}", flush=True)
        print(f"DAGs from {env['AIRFLOW__CORE__DAGS_FOLDER']} (local execution); log {log}", flush=True)
        print("Ctrl-C stops Airflow" + (" and the engine" if started_engine else ""), flush=True)
        proc.wait()
        raise DbtSparkOperatorError(f"airflow standalone exited with {proc.returncode}: see {log}")
    except KeyboardInterrupt:
        return 0
    finally:
        if proc is not None:
            stop_group(proc.pid, grace=60)
            proc.wait()
            print("Airflow stopped", flush=True)
        if started_engine:
            engine.down()
            print("engine stopped (data kept)", flush=True)
