"""Whole-run time and per-task overhead: a dbt project through a real Airflow vs one ``dbt build``.

For ``dbt/analytics`` and a generated 100-model project (parse_bench.py's generator: chains and
fan-outs, a not_null test per model), against a local engine of its own:

- the floor: ``dbt build --threads 4`` in one process;
- Airflow: a DAG per mode (``--modes``), run by the scheduler of a real Airflow 3 (PostgreSQL,
  parallelism 4; dbt_spark_operator.dev.airflow_stack), once with the project's ``WarmLocalExecutor``
  (task processes forked with dbt already imported) and once with Airflow's plain ``LocalExecutor``:
  ``local``: ``dbt_task_group(project, execution="local")``; ``watcher``: ``execution="watcher"`` (one
  ``dbt build``, node tasks mirrored from the triggerer); ``cosmos_watcher``, the anchor: Cosmos's own
  ``DbtTaskGroup`` in ``ExecutionMode.WATCHER`` with this package's Kyuubi profile mapping;
- per-task overhead: each model task's duration minus the time dbt reports for the model itself
  (``OK created ... [OK in 0.58s]``, the statements the engine ran), split into before dbt's first
  log line, dbt around the model, and after dbt's last line.

Medians of ``--runs`` runs; writes bench/RUN_RESULTS.md. Run: ``make bench`` (after parse_bench.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from parse_bench import machine  # this script's directory is on sys.path

from dbt_spark_operator.dev.airflow_stack import AirflowStack, Postgres, free_port
from dbt_spark_operator.dev.demo import WARM_EXECUTOR
from dbt_spark_operator.dev.generated_project import generate

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

THREADS = 4
EXECUTORS = {"warm": WARM_EXECUTOR, "plain": "LocalExecutor"}
NODE_DONE = re.compile(r"\d+ of \d+ OK created .* \[\S+ in (\d+\.\d+)s\]")
MODES = ("local", "watcher", "cosmos_watcher")
DAG_FILE = """
from datetime import datetime
from airflow.sdk import DAG
from dbt_spark_operator import dbt_task_group

with DAG({dag_id!r}, schedule=None, start_date=datetime(2025, 1, 1), max_active_runs=1):
    dbt_task_group({project!r}, execution={mode!r})
"""
COSMOS_WATCHER_DAG_FILE = """
from datetime import datetime
from pathlib import Path
from airflow.sdk import DAG
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, LoadMode
from dbt_spark_operator import KyuubiProfileMapping

with DAG({dag_id!r}, schedule=None, start_date=datetime(2025, 1, 1), max_active_runs=1):
    DbtTaskGroup(
        group_id="g",
        project_config=ProjectConfig(
            dbt_project_path={project!r}, manifest_path=Path({project!r}) / "target" / "manifest.json"
        ),
        profile_config=ProfileConfig(
            profile_name="analytics",
            target_name="kyuubi",
            profile_mapping=KyuubiProfileMapping("kyuubi_default"),
        ),
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.WATCHER),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, emit_datasets=False),
        operator_args={{"install_deps": False}},
    )
"""


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def dbt_build(project: Path, env: dict[str, str]) -> float:
    """The floor: one ``dbt build`` of the project in one process."""
    started = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "dbt"), "build", "--project-dir", str(project), "--threads", str(THREADS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise SystemExit(f"dbt build of {project} failed:\n{proc.stdout[-3000:]}")
    return time.perf_counter() - started


def task_overheads(stack: AirflowStack, dag_id: str, run_id: str) -> list[dict[str, float]]:
    """Per model task: duration, dbt's model time, and where the rest went (from the task log)."""
    rows = []
    for task_id, ti in stack.task_instances(dag_id, run_id).items():
        if not task_id.endswith(".run"):
            continue
        log = stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        entries = [
            json.loads(line) for line in (log / f"attempt={ti['try_number']}.log").read_text().splitlines()
        ]
        dbt_lines = [e for e in entries if e.get("logger") == "task.stdout" or "Running with dbt" in str(e)]
        node = [float(m.group(1)) for e in entries if (m := NODE_DONE.search(str(e.get("event", ""))))]
        if not node or not dbt_lines:
            continue
        start, end = _ts(ti["start_date"]), _ts(ti["end_date"])
        first, last = _ts(dbt_lines[0]["timestamp"]), _ts(dbt_lines[-1]["timestamp"])
        rows.append(
            {
                "duration": end - start,
                "model": node[0],
                "overhead": end - start - node[0],
                "before_dbt": first - start,
                "dbt_besides_model": last - first - node[0],
                "after_dbt": end - last,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--executors", default="warm,plain", help="comma-separated: warm, plain")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated: {', '.join(MODES)}")
    parser.add_argument("--projects", default="analytics,bench_100", help="comma-separated")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RUN_RESULTS.md")
    args = parser.parse_args()

    from dbt_spark_operator.project.paths import write_manifest

    tmp = Path(tempfile.mkdtemp(prefix="dbt-spark-run-bench-"))
    env, port, engine = start_engine(tmp)
    dags = tmp / "dags"
    dags.mkdir()
    known = {"analytics": lambda: ROOT / "dbt" / "analytics", "bench_100": lambda: generate(tmp, 100)}
    projects = {name: known[name]() for name in args.projects.split(",")}
    modes = args.modes.split(",")
    results: dict[tuple[str, str, str], dict] = {}
    stack = postgres = None
    try:
        # Both sides start from the same state: packages installed, raw events landed, tables built once.
        subprocess.run(
            [str(BIN / "dbt"), "deps", "--project-dir", str(projects["analytics"])],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                str(BIN / "dbt"),
                "run-operation",
                "load_raw_employee_events",
                "--project-dir",
                str(projects["analytics"]),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        for name, project in projects.items():
            write_manifest(project)
            for mode in modes:
                template = COSMOS_WATCHER_DAG_FILE if mode == "cosmos_watcher" else DAG_FILE
                (dags / f"bench_{name}_{mode}.py").write_text(
                    template.format(dag_id=f"bench_{name}_{mode}", project=str(project), mode=mode)
                )
        conn = kyuubi_connection(port)
        floors = {name: [dbt_build(path, env) for _ in range(args.runs)] for name, path in projects.items()}
        for executor in args.executors.split(","):  # each its own metadata database and Airflow
            postgres = Postgres(free_port())
            postgres.start()
            stack = AirflowStack(
                tmp / f"airflow-{executor}", dags, postgres.url, free_port(), env, EXECUTORS[executor]
            )
            stack.start(connections={"kyuubi_default": conn})
            for name in projects:
                for mode in modes:
                    found = measure_runs(stack, f"bench_{name}_{mode}", executor, args.runs, mode == "local")
                    found["floor"] = floors[name]
                    results[name, mode, executor] = found
                    report(name, mode, executor, found)
            stack.stop()
            postgres.stop()
            stack = postgres = None
    finally:
        if stack is not None:
            stack.stop()
        if postgres is not None:
            postgres.stop()
        engine.down()
    write_results(args.output, results, args.runs)
    print(f"wrote {args.output}")
    return 0


def start_engine(tmp: Path) -> tuple[dict[str, str], int, Any]:
    """This process's environment for a benchmark under ``tmp`` (dbt, Airflow, the state directory) and
    a local engine of its own on a free port, started."""
    from dbt_spark_operator.dev.engine import EngineConfig, LocalEngine

    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "DBT_TARGET": "local",
        "DBT_PROFILES_DIR": str(ROOT / "profiles"),
        "DBT_SPARK_LOCAL_PORT": str(port),
        "DBT_SPARK_EXECUTION": "local",
        "DBT_SPARK_STATE_DIR": str(tmp / "state"),
        "DBT_PACKAGES_DIR": str(tmp / "state" / "packages" / "analytics"),
    }
    os.environ.update(env)
    engine = LocalEngine(EngineConfig.from_env(home=str(tmp / "engine"), port=port))
    engine.up()
    return env, port, engine


def kyuubi_connection(port: int) -> dict[str, Any]:
    """The benchmark's Airflow connection to its engine."""
    return {"conn_type": "kyuubi", "host": "127.0.0.1", "port": port, "login": "bench", "schema": "default"}


def measure_runs(stack: AirflowStack, dag_id: str, executor: str, runs: int, overheads_too: bool) -> dict:
    """Trigger ``runs`` runs one after the other: their wall times and (``overheads_too``: local
    execution, a dbt process per task) their model tasks' overheads."""
    stack.wait_for_dag(dag_id)
    walls, overheads = [], []
    for i in range(runs):
        run = stack.wait_for_run(dag_id, stack.trigger(dag_id, f"bench-{executor}-{i}"), timeout=3600)
        if run["state"] != "success":
            raise SystemExit(f"{dag_id} failed:\n{stack.failures(dag_id, run['dag_run_id'])}")
        walls.append(_ts(run["end_date"]) - _ts(run["start_date"]))
        if overheads_too:
            overheads += task_overheads(stack, dag_id, run["dag_run_id"])
    tasks = len(stack.task_instances(dag_id, f"bench-{executor}-0"))
    return {"tasks": tasks, "airflow": walls, "overheads": overheads}


def report(name: str, mode: str, executor: str, r: dict) -> None:
    floor, wall = statistics.median(r["floor"]), statistics.median(r["airflow"])
    overhead = (
        f"; model task overhead median {statistics.median(o['overhead'] for o in r['overheads']):.2f} s"
        if r["overheads"]
        else ""
    )
    print(
        f"{name} {mode} ({r['tasks']} tasks, {executor}): dbt build {floor:.1f} s, Airflow {wall:.1f} s "
        f"({wall / floor:.1f}x){overhead}",
        flush=True,
    )


def write_results(path: Path, results: dict, runs: int) -> None:
    lines = [
        "# Whole-run time and per-task overhead",
        "",
        f"{machine()} Medians of {runs} runs. Produced by `make bench` (bench/run_bench.py): a real "
        f"Airflow 3 (PostgreSQL, parallelism {THREADS}) against the local engine; the floor "
        f"is one `dbt build --threads {THREADS}` of the same project against the same engine, in the same "
        'run. Modes: `local`, `dbt_task_group(execution="local")` (a dbt process per task); `watcher`, '
        '`execution="watcher"` (one `dbt build`, node tasks mirrored from the triggerer); '
        "`cosmos_watcher`, Cosmos's own `DbtTaskGroup` in `ExecutionMode.WATCHER` with this package's "
        "profile mapping. Executor `warm`: the project's WarmLocalExecutor (task processes forked with dbt "
        "imported); `plain`: Airflow's LocalExecutor.",
        "",
        "| project | mode | tasks | executor | dbt build (s) | Airflow run (s) | Airflow / dbt build "
        "| model task overhead, median (s) | of which before dbt / dbt besides the model / after dbt (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (name, mode, executor), r in results.items():
        floor, wall = statistics.median(r["floor"]), statistics.median(r["airflow"])
        overhead = split = "-"
        if r["overheads"]:
            med = {k: statistics.median(o[k] for o in r["overheads"]) for k in r["overheads"][0]}
            overhead = f"**{med['overhead']:.2f}** (model {med['model']:.2f} of {med['duration']:.2f})"
            split = f"{med['before_dbt']:.2f} / {med['dbt_besides_model']:.2f} / {med['after_dbt']:.2f}"
        lines.append(
            f"| {name} | {mode} | {r['tasks']} | {executor} | {floor:.1f} | {wall:.1f} | "
            f"**{wall / floor:.1f}x** | {overhead} | {split} |"
        )
    lines += [
        "",
        "Goals: watcher at most 1.5x the floor on analytics and 1.3x on 100 models, and faster than "
        "Cosmos's watcher in the same run; per-task overhead of local execution under 1.5 s.",
    ]
    # The cluster's section (bench/cluster_bench.py, make bench-cluster) stays as that script wrote it.
    marker = "<!-- cluster_bench.py writes below this line -->"
    cluster = path.read_text().partition(marker)[2] if path.exists() else ""
    path.write_text("\n".join(lines) + "\n" + (f"\n{marker}{cluster}" if cluster else ""))


if __name__ == "__main__":
    sys.exit(main())
