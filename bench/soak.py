"""Soak: consecutive runs of a generated 100-model project (a not_null test each) in watcher execution
through a real Airflow 3 (PostgreSQL, the four services, parallelism 4, the project's WarmLocalExecutor by
default) against a local engine of its own. Every run must succeed with every task at try 1: a task
that failed or was retried although dbt built its node is the spurious failure this looks for.

Writes bench/SOAK_RESULTS.md; exits 1 when any run failed. Run: ``make soak`` (``make bench`` runs it too).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from parse_bench import machine  # this script's directory is on sys.path
from run_bench import DAG_FILE, EXECUTORS, ROOT, THREADS, _ts, kyuubi_connection, start_engine

from dbt_spark_operator.dev.airflow_stack import AirflowStack, Postgres, free_port
from dbt_spark_operator.dev.generated_project import generate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--mode", default="watcher", help="the dbt_task_group execution: watcher or local")
    parser.add_argument("--executor", default="warm", choices=sorted(EXECUTORS))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "SOAK_RESULTS.md")
    args = parser.parse_args()

    from dbt_spark_operator.project import write_manifest

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
            rows.append(row)
            print(
                f"run {row['run']}/{args.runs}: {row['state']} in {row['wall']:.1f} s, {row['tasks']} tasks "
                f"{row['states']}, retried {len(retried)}",
                flush=True,
            )
    finally:
        stack.stop()
        postgres.stop()
        engine.down()
    write_results(args, rows)
    print(f"wrote {args.output}")
    bad = [r for r in rows if r["state"] != "success" or r["retried"] or set(r["states"]) != {"success"}]
    return 1 if bad or len(rows) != args.runs else 0


def write_results(args: argparse.Namespace, rows: list[dict]) -> None:
    walls = [r["wall"] for r in rows]
    ok = sum(r["state"] == "success" and not r["retried"] and set(r["states"]) == {"success"} for r in rows)
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
        "| run | state | wall time (s) | tasks | task states | tasks retried |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        states = ", ".join(f"{k} {v}" for k, v in sorted(r["states"].items()))
        lines.append(
            f"| {r['run']} | {r['state']} | {r['wall']:.1f} | {r['tasks']} | {states} | {len(r['retried'])} |"
        )
    for r in rows:
        if r["failures"]:
            lines += ["", f"Run {r['run']} failed:", "", "```", str(r["failures"])[-3000:], "```"]
    args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
