"""A real Airflow 3 for the integration suite: PostgreSQL (Debian's) as the metadata database, and the
scheduler, dag-processor, triggerer and api-server (LocalExecutor) as separate processes.

Each service runs in its own process group and is stopped group-first, so LocalExecutor workers and
the dbt processes they started go with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from dbt_spark_operator.dev.demo import WARM_EXECUTOR

BIN = Path(sys.executable).parent
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def processes_of(home: Path | str) -> list[psutil.Process]:
    """Processes running with ``home`` as AIRFLOW_HOME in their environment (process titles change)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("AIRFLOW_HOME") == str(home):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def processes_using(path: Path | str) -> list[psutil.Process]:
    """Processes whose command line names ``path`` or a file under it (an engine home, say)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if any(str(path) in arg for arg in proc.cmdline()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _pg_bin() -> Path:
    """Debian's PostgreSQL server binaries (the newest version installed)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    return versions[-1].parent


class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1:``port`` with database and user ``airflow``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="dbt-spark-operator-pg-"))
        self.data = self.root / "data"
        self.url = f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"

    def _run(self, *argv: str) -> None:
        # The server refuses to run as root: use Debian's postgres user then.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        proc = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {proc.stdout}{proc.stderr}")

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        pg = _pg_bin()
        self._run(str(pg / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self._run(
            str(pg / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "postgres.log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1",
            "-w",
            "start",
        )
        for sql in ("CREATE USER airflow", "CREATE DATABASE airflow OWNER airflow"):
            self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-c", sql)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(_pg_bin() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class AirflowStack:
    """Airflow 3's four services on one machine, with ``dags`` as the DAG folder."""

    def __init__(
        self,
        home: Path,
        dags: Path,
        db_url: str,
        api_port: int,
        env: dict[str, str],
        executor: str = WARM_EXECUTOR,
        users: dict[str, str] | None = None,
    ) -> None:
        """``users``: more login users of SimpleAuthManager (name: role) beside ``admin``."""
        self.home = home
        self.api = f"http://127.0.0.1:{api_port}"
        self.password = secrets.token_urlsafe(12)
        self.passwords = {"admin": self.password, **{name: secrets.token_urlsafe(12) for name in users or {}}}
        roles = {"admin": "admin", **(users or {})}
        self.env = {
            **env,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # Task processes reach the metadata only through the Execution API, signed with this secret.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": self.api,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in roles.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",  # DAG files do not change
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None

    def airflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "airflow"), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
        return proc

    def start(self, connections: dict[str, dict[str, Any]]) -> None:
        """Migrate the database, add ``connections`` (before any DAG is parsed), start the services."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps(self.passwords))
        self.airflow("db", "migrate")
        for conn_id, conn in connections.items():
            self.airflow("connections", "add", conn_id, "--conn-json", json.dumps(conn))
        for name in COMPONENTS:
            log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 - closed by the child's exit
            self.processes[name] = subprocess.Popen(
                [str(BIN / "airflow"), name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: workers and dbt go with it
            )
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        health: Any = None
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    log = (self.home / f"{name}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{log}")
            try:
                health = httpx.get(f"{self.api}/api/v2/monitor/health", timeout=5).json()
                if all(
                    (health.get(part) or {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(2)
        raise RuntimeError(f"Airflow not healthy after {timeout:.0f} s: {health}")

    def stop(self) -> None:
        """SIGTERM every group, then SIGKILL what is left after 60 s; wait for every process."""
        for proc in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(1, deadline - time.monotonic()))
        for proc in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for leftover in self.leftovers():
            leftover.kill()

    def leftovers(self) -> list[psutil.Process]:
        """Processes still running with this stack's AIRFLOW_HOME in their environment."""
        return processes_of(self.home)

    # The REST API (v2), as a user's script would call it.
    def request(self, method: str, path: str, *, api: str = "/api/v2", **kwargs: Any) -> Any:
        """``path`` of the public REST API (``api="/ui"``: the UI's own endpoints), as admin."""
        if self._token is None:
            reply = httpx.post(
                f"{self.api}/auth/token", json={"username": "admin", "password": self.password}, timeout=30
            )
            reply.raise_for_status()
            self._token = reply.json()["access_token"]
        reply = httpx.request(
            method,
            f"{self.api}{api}{path}",
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=60,
            **kwargs,
        )
        if reply.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text}")
        return reply.json() if reply.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            errors = self.request("GET", "/importErrors")["import_errors"]
            if errors:
                raise RuntimeError(f"DAG import errors: {errors}")
            try:
                self.request("GET", f"/dags/{dag_id}")
                return
            except RuntimeError:
                time.sleep(2)
        raise RuntimeError(f"DAG {dag_id} not parsed after {timeout:.0f} s")

    def trigger(self, dag_id: str, run_id: str) -> str:
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        self.request("POST", f"/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": None})
        return run_id

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 1200) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return dict(run)
            time.sleep(3)
        raise RuntimeError(f"run {dag_id}/{run_id} not finished after {timeout:.0f} s")

    def clear(self, dag_id: str, run_id: str, task_ids: list[str]) -> None:
        """Clear exactly ``task_ids`` of the run (no upstream, no downstream), as a user's script would."""
        self.request(
            "POST",
            f"/dags/{dag_id}/clearTaskInstances",
            json={
                "dry_run": False,
                "dag_run_id": run_id,
                "task_ids": task_ids,
                "only_failed": False,
                "include_upstream": False,
                "include_downstream": False,
            },
        )

    def tries(self, dag_id: str, run_id: str) -> dict[str, int]:
        """Each task's try number in the run."""
        return {t: ti["try_number"] for t, ti in self.task_instances(dag_id, run_id).items()}

    def wait_for_rerun(
        self, dag_id: str, run_id: str, task_id: str, before: dict[str, int], timeout: float = 600
    ) -> dict[str, Any]:
        """The run once the cleared ``task_id`` ran again (a try above ``before``'s) and the run ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ti = self.task_instances(dag_id, run_id)[task_id]
            if ti["try_number"] > before[task_id] and ti["state"] in ("success", "failed"):
                return self.wait_for_run(dag_id, run_id)
            time.sleep(2)
        raise RuntimeError(f"{task_id} of {dag_id}/{run_id} was not rerun in {timeout:.0f} s")

    def failures(self, dag_id: str, run_id: str) -> str:
        """Each task of the run that did not succeed, with the end of its log."""
        report = []
        for task_id, ti in self.task_instances(dag_id, run_id).items():
            if ti["state"] == "success":
                continue
            report.append(f"{task_id}: {ti['state']}")
            run_logs = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
            for log in sorted(run_logs.glob("attempt=*.log")) if ti["state"] == "failed" else []:
                for line in log.read_text().splitlines()[-30:]:
                    entry = json.loads(line)
                    report.append(f"  {entry.get('event', '')} {entry.get('error_detail', '')}"[:3000])
        return "\n".join(report)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """Every task instance of the run (the API pages at 100)."""
        found: dict[str, dict[str, Any]] = {}
        while True:
            reply = self.request(
                "GET",
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                params={"limit": 100, "offset": len(found)},
            )
            found.update((ti["task_id"], ti) for ti in reply["task_instances"])
            total = reply.get("total_entries")
            if not reply["task_instances"] or (total is not None and len(found) >= total):
                return found
