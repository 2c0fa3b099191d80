"""``dbt-spark-operator demo``: run a sample DAG against the local engine and show what it built."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbt_spark_operator import compat
from dbt_spark_operator.dev import checkout
from dbt_spark_operator.dev.engine import LocalEngine, run_query
from dbt_spark_operator.project.paths import write_manifest


def airflow_env(root: Path | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for Airflow on this machine: the checkout's DAGs, local dbt target, no telemetry."""
    root = root or checkout()
    env = dict(os.environ if base is None else base)
    env.setdefault("AIRFLOW_HOME", str(root / ".airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(root / "dags"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("DBT_TARGET", "local")
    env.setdefault("DBT_SPARK_EXECUTION", "local")
    env.setdefault("AIRFLOW__CORE__EXECUTOR", WARM_EXECUTOR)  # task processes start with dbt imported
    # The Kyuubi connection of the DAGs, pointing at the local engine.
    port = env.get("DBT_SPARK_LOCAL_PORT", "10009")
    env.setdefault(
        "AIRFLOW_CONN_KYUUBI_DEFAULT",
        json.dumps(
            {
                "conn_type": "kyuubi",
                "host": "127.0.0.1",
                "port": int(port),
                "login": "admin",
                "schema": "default",
            }
        ),
    )
    # Cosmos runs the dbt of this environment; put it first on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _table(headers: list[str], rows: list[tuple[Any, ...]]) -> str:
    cells = [list(map(str, headers))] + [[str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def task_summary(dag_id: str) -> tuple[str, list[tuple[str, str, float | None]]]:
    """State of the latest run of ``dag_id`` and (task, state, seconds) of each of its tasks."""
    logging.getLogger("pyhive").setLevel(logging.WARNING)  # Airflow's logging config shows every query
    return compat.latest_run(dag_id)


def _kubernetes_setup() -> tuple[dict[str, str], LocalEngine]:
    """The demo's environment and engine on the development cluster (see :func:`run_demo`)."""
    from dbt_spark_operator.dev.cluster import DevCluster
    from dbt_spark_operator.dev.engine import EngineConfig

    cluster = DevCluster.running()
    engine = LocalEngine(
        EngineConfig.from_env(home=cluster.directory / "engine", host=cluster.node_ip, auth="ldap")
    )
    base = {**os.environ, **cluster.airflow_env(), "AIRFLOW_HOME": str(cluster.directory / "airflow")}
    return airflow_env(base=base), engine  # the connection once the engine is up (_publish_to_cluster)


def _publish_to_cluster(env: dict[str, str], engine: LocalEngine) -> None:
    """The projects onto their volume, the engine's password into the Secret the DAGs name, the
    connection (the engine's service user, on the node's address) into ``env`` and this process."""
    from dbt_spark_operator.dev.cluster import PASSWORD_SECRET, DevCluster

    cluster = DevCluster.running()
    for manifest in cluster.publish_projects():
        print(f"bundled {manifest}")
    user, password = engine.config.ldap.service_user()
    name, key = PASSWORD_SECRET
    cluster.put_secret(name, {key: password})
    print(f"Secret {cluster.namespace}/{name} holds the engine's password; pods read it as {key}")
    connection = json.dumps(cluster.kyuubi_connection(engine.config.port, user, password))
    env["AIRFLOW_CONN_KYUUBI_DEFAULT"] = os.environ["AIRFLOW_CONN_KYUUBI_DEFAULT"] = connection


# Airflow's LocalExecutor with dbt imported before it forks task processes (runtime/warm_executor.py).
WARM_EXECUTOR = "dbt_spark_operator.runtime.warm_executor.WarmLocalExecutor"
DEMO_DAGS = ("simple_model_test", "simple_model_watcher", "sample_dbt_pipeline")


def _run_dag(dag_id: str, env: dict[str, str]) -> bool:
    """``airflow dags test`` one DAG and print its tasks; True iff the run and every task succeeded."""
    log = Path(env["AIRFLOW_HOME"]) / f"demo-{dag_id}.log"
    print(f"\nrunning DAG {dag_id} (airflow dags test; log {log}) ...", flush=True)
    with open(log, "w") as out:
        rc = subprocess.run(["airflow", "dags", "test", dag_id], env=env, stdout=out, stderr=out).returncode
    run_state, tasks = task_summary(dag_id)
    rows = [(t, s, f"{d:.1f} s" if d is not None else "-") for t, s, d in tasks]
    print(_table(["task", "state", "duration"], rows))
    done = sum(s == "success" for _, s, _ in tasks)
    print(f"DAG {dag_id} run {run_state}: {done}/{len(tasks)} tasks succeeded")
    ok = rc == 0 and run_state == "success" and bool(tasks) and done == len(tasks)
    if not ok:
        print(f"DAG {dag_id} FAILED: see {log}", file=sys.stderr)
    return ok


def run_demo(dag_ids: Sequence[str] = DEMO_DAGS, kubernetes: bool = False) -> int:
    """Engine up, run the DAGs, print per-task summaries and the simple_pipeline rows, engine down.

    Exits 0 only if every task of every DAG succeeded and simple_pipeline has its five rows.

    ``kubernetes``: every task a pod on the development cluster (``make demo-k8s``; run inside its network
    namespace): the engine on the node's address with LDAP logins, the projects bundled onto their
    volume, the password in the Secret the DAGs name, Airflow's home in the cluster folder.
    """
    if kubernetes:
        env, engine = _kubernetes_setup()
    else:
        env, engine = airflow_env(), LocalEngine()
    os.environ.update(env)  # the in-process Airflow ORM below reads the same settings
    started_here = not engine.status().running
    status = engine.up()
    took = f" (started in {status.started_seconds} s)" if started_here else ""
    print(f"engine {status.describe()}{took}")
    try:
        if kubernetes:
            _publish_to_cluster(env, engine)
        print(f"manifest {write_manifest('analytics')}")  # DAG parsing reads it; refresh it from the project
        Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
        subprocess.run(["airflow", "db", "migrate"], env=env, capture_output=True, check=True)
        results = [_run_dag(dag_id, env) for dag_id in dag_ids]
        login = engine.config.credentials()
        sql = "SELECT * FROM simple_pipeline ORDER BY id"
        rows = run_query(status.host, status.port, sql, credentials=login or None)
        print("\nsimple_pipeline")
        print(_table(["id", "full_name", "email", "department", "age", "career_stage"], rows))
        print(f"\n{sum(results)}/{len(results)} DAGs succeeded; simple_pipeline has {len(rows)} rows")
        return 0 if all(results) and len(rows) == 5 else 1
    finally:
        if started_here:
            engine.down()
            print("engine stopped (data kept)")
