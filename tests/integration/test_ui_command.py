"""`make ui` (`dbt-spark-operator ui`): Airflow standalone with the project's DAGs on the local engine,
a URL and a login that work, and nothing left running after Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import httpx
import psutil

from dbt_spark_operator.dev.airflow_stack import processes_of
from helpers import BIN, SESSION_DIR, free_port


def test_ui_serves_the_dags_and_stops_on_ctrl_c(engine):
    home = str(SESSION_DIR / "ui-home")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__CORE__", "AIRFLOW__DATABASE__"))
    }
    env["AIRFLOW_HOME"] = home
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "dbt-spark-operator"), "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Started with SIGINT ignored, as from a script in the background: Ctrl-C must still stop it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    lines = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any("Airflow UI:" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        (url, password) = re.search(r"Airflow UI: (\S+)  login: admin / (\S+)", "".join(lines)).groups()
        assert url == f"http://127.0.0.1:{port}"
        token = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": password}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        dag_ids: set[str] = set()
        while time.monotonic() < deadline and "simple_model_test" not in dag_ids:
            dags = httpx.get(f"{url}/api/v2/dags", headers=headers).json()["dags"]
            dag_ids = {d["dag_id"] for d in dags}
            time.sleep(2)
        assert {"simple_model_test", "sample_dbt_pipeline", "analytics_kubernetes"} <= dag_ids
        # A local tool listens on loopback only.
        listening = {
            c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port
        }
        assert listening == {"127.0.0.1"}
        assert processes_of(home)  # Airflow's services run
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, "".join(lines) + rest
    assert "Airflow stopped" in rest
    assert "engine stopped" not in rest  # the session's engine ran before: left running
    assert processes_of(home) == []
