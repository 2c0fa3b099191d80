"""Soak: consecutive runs of a generated 100-model project (a not_null test each) in watcher execution
through a real Airflow 3 (PostgreSQL, the four services, parallelism 4, the project's WarmLocalExecutor by
default) against a local engine of its own. Every run must succeed with every task at try 1: a task
that failed or was retried although dbt built its node is the spurious failure this looks for.

It also splits where a run's time goes after the build, per node task, from the task instances'
timestamps: the **lag** from its last upstream task's end to its own start (the scheduler seeing it
ready, the triggerer picking its trigger up) and its **duration** (the trigger's poll and the result
handed back; for a model, its resume in a worker for the asset event too); and the **tail**, from the
build's end to the run's end.

Writes bench/SOAK_RESULTS.md; exits 1 when any run failed. Run: ``make soak`` (``make bench`` runs it too).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from parse_bench import machine  # this script's directory is on sys.path
from run_bench import DAG_FILE, EXECUTORS, ROOT, THREADS, _ts, kyuubi_connection, start_engine

from dbt_spark_operator.dev.airflow_stack import AirflowStack, Postgres, free_port
from dbt_spark_operator.dev.generated_project import generate
from dbt_spark_operator.watcher.build import BUILD_TASK


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--mode", default="watcher", help="the dbt_task_group execution: watcher or local")
    parser.add_argument("--executor", default="warm", choices=sorted(EXECUTORS))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "SOAK_RESULTS.md")
    args = parser.parse_args()

    from dbt_spark_operator.project.paths import write_manifest

    tmp = Path(tempfile.mkdtemp(prefix="dbt-spark-soak-"))
    env, port, engine = start_engine(tmp)
    dag_id = f"soak_{args.models}_{args.mode}"
    dags = tmp / "dags"
    dags.mkdir()
    project = generate(tmp, args.models)
    write_manifest(project)
    (dags / f"{dag_id}.py").write_text(DAG_FILE.format(dag_id=dag_id, project=str(project), mode=args.mode))
    postgres = Postgres(free_port())
    postgres.start()
    stack = AirflowStack(tmp / "airflow", dags, postgres.url, free_port(), env, EXECUTORS[args.executor])
    rows: list[dict] = []
    try:
        stack.start(connections={"kyuubi_default": kyuubi_connection(port)})
        stack.wait_for_dag(dag_id)
        upstream = upstream_tasks(stack, dag_id)
        for i in range(args.runs):
            run_id = f"soak-{i}"
            run = stack.wait_for_run(dag_id, stack.trigger(dag_id, run_id), timeout=3600)
            tis = stack.task_instances(dag_id, run_id)
            states = Counter(ti["state"] for ti in tis.values())
            retried = sorted(t for t, ti in tis.items() if ti["try_number"] != 1)
            row = {
                "run": i + 1,
                "state": run["state"],
                "wall": _ts(run["end_date"]) - _ts(run["start_date"]),
                "tasks": len(tis),
                "states": dict(states),
                "retried": retried,
                "failures": "" if run["state"] == "success" else stack.failures(dag_id, run_id),
            }
            row.update(breakdown(upstream, tis, run))
            rows.append(row)
            print(
                f"run {row['run']}/{args.runs}: {row['state']} in {row['wall']:.1f} s, {row['tasks']} tasks "
                f"{row['states']}, retried {len(retried)}; tail {row['tail']:.1f} s, lag/duration median: "
                f"model {row['model_lag']:.1f}/{row['model_duration']:.1f} s, "
                f"test {row['test_lag']:.1f}/{row['test_duration']:.1f} s",
                flush=True,
            )
    finally:
        stack.stop()
        postgres.stop()
        engine.down()
        write_results(args, rows)  # the runs so far, also when one timed out
        print(f"wrote {args.output}")
    return 0 if len(rows) == args.runs and all(map(clean, rows)) else 1


def clean(row: dict) -> bool:
    """A run without a spurious failure: success, every task success at try 1."""
    return row["state"] == "success" and not row["retried"] and set(row["states"]) == {"success"}


def upstream_tasks(stack: AirflowStack, dag_id: str) -> dict[str, list[str]]:
    """Each task's upstream task ids, from the DAG's tasks as the REST API lists them."""
    tasks = stack.request("GET", f"/dags/{dag_id}/tasks")["tasks"]
    upstream: dict[str, list[str]] = {t["task_id"]: [] for t in tasks}
    for task in tasks:
        for down in task["downstream_task_ids"]:
            upstream[down].append(task["task_id"])
    return upstream


def breakdown(upstream: dict[str, list[str]], tis: dict[str, dict], run: dict) -> dict[str, float]:
    """Medians of the node tasks' lag and duration (see the module's docstring), models and tests apart,
    and the tail after the build (NaN without a finished build: ``local`` execution, a failed run)."""

    def ended(task_id: str) -> float | None:
        end = tis.get(task_id, {}).get("end_date")
        return _ts(end) if end else None

    found: dict[str, list[float]] = {
        "model_lag": [],
        "model_duration": [],
        "test_lag": [],
        "test_duration": [],
    }
    builds = [t for t in tis if t.rsplit(".", 1)[-1] == BUILD_TASK]
    for task_id, ti in tis.items():
        if task_id in builds or not ti["start_date"] or not ti["end_date"]:
            continue
        upstream_ends = [e for e in map(ended, upstream.get(task_id, [])) if e is not None]
        ready = max(upstream_ends, default=_ts(run["start_date"]))
        kind = "model" if task_id.endswith(".run") else "test"
        found[f"{kind}_lag"].append(_ts(ti["start_date"]) - ready)
        found[f"{kind}_duration"].append(_ts(ti["end_date"]) - _ts(ti["start_date"]))
    result = {k: statistics.median(v) if v else 0.0 for k, v in found.items()}
    build_ends = [e for e in map(ended, builds) if e is not None]
    run_end = _ts(run["end_date"]) if run.get("end_date") else None
    result["tail"] = run_end - max(build_ends) if build_ends and run_end else math.nan
    return result


def write_results(args: argparse.Namespace, rows: list[dict]) -> None:
    walls = [r["wall"] for r in rows]
    ok = sum(map(clean, rows))
    lines = [
        "# Soak: consecutive runs without a spurious failure",
        "",
        f"{machine()} Produced by `make soak` (bench/soak.py): {args.runs} consecutive runs of a generated "
        f"project of {args.models} models and a not_null test each, "
        f'`dbt_task_group(execution="{args.mode}")`, through a real Airflow 3 (PostgreSQL, parallelism '
        f"{THREADS}, executor `{args.executor}`) against the local engine.",
        "",
        f"**{ok} of {args.runs} runs succeeded with every task success at try 1.** Wall time: median "
        f"{statistics.median(walls):.1f} s, min {min(walls):.1f} s, max {max(walls):.1f} s."
        if walls
        else "No run finished.",
        "",
        "Lag: from a node task's last upstream task's end to its start; duration: its start to its end; "
        "tail: from the build task's end to the run's end (medians over the run's node tasks, seconds).",
        "",
        "| run | state | wall time (s) | tasks | task states | tasks retried | tail after the build "
        "| model lag / duration | test lag / duration |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        states = ", ".join(f"{k} {v}" for k, v in sorted(r["states"].items()))
        lines.append(
            f"| {r['run']} | {r['state']} | {r['wall']:.1f} | {r['tasks']} | {states} | {len(r['retried'])} "
            f"| {r['tail']:.1f} | {r['model_lag']:.1f} / {r['model_duration']:.1f} "
            f"| {r['test_lag']:.1f} / {r['test_duration']:.1f} |"
        )
    for r in rows:
        if r["failures"]:
            lines += ["", f"Run {r['run']} failed:", "", "```", str(r["failures"])[-3000:], "```"]
    args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
