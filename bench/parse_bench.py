"""DAG parse time and peak memory of a dbt_task_group DAG, against Cosmos's own load paths.

Generates synthetic dbt projects (chains and fan-outs, a not_null test on every model), then builds a
task group of each in a fresh Python process (imports done first and not counted, as in a long-lived
DAG processor) and reports the median of ``--runs`` builds, the peak memory of the process, and ratios.
No JVM, engine or cluster is used. Run: ``make bench`` (writes bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LIST_RELATIONS = ROOT / "dbt" / "analytics" / "macros" / "list_relations.sql"

# Builds one task group in a child process and prints {"seconds": ..., "peak_mb": ...}.
CHILD = textwrap.dedent("""
    import gc, json, resource, sys, time
    from datetime import datetime
    from pathlib import Path
    from airflow.sdk import DAG
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, LoadMode
    import cosmos.operators.kubernetes  # the operator classes both build (imports are not measured)
    from dbt_spark_operator import dbt_task_group
    from dbt_spark_operator.profile import KyuubiProfileMapping

    method, project = sys.argv[1], Path(sys.argv[2])
    # Airflow's DAG processor freezes the GC before it forks a parser: the imports above are frozen too.
    gc.freeze()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with DAG("bench", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        if method == "ours":
            dbt_task_group(project, execution="kubernetes")
        else:
            DbtTaskGroup(
                group_id="bench",
                project_config=ProjectConfig(project_name="bench",
                                             manifest_path=project / "target" / "manifest.json")
                if method == "cosmos_manifest" else ProjectConfig(),
                profile_config=ProfileConfig(profile_name="analytics", target_name="kyuubi",
                                             profile_mapping=KyuubiProfileMapping()),
                execution_config=ExecutionConfig(execution_mode=ExecutionMode.KUBERNETES,
                                                 dbt_project_path="/opt/dbt/projects/bench"),
                render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST)
                if method == "cosmos_manifest"
                else RenderConfig(load_method=LoadMode.DBT_LS, dbt_project_path=project),
            )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "tasks": len(dag.tasks), "peak_mb": peak / 1024,
                      "grew_mb": (peak - before) / 1024}))
""")


def generate(root: Path, models: int) -> Path:
    """A project of ``models`` models: chains of 10, each chain fanning out from one root model."""
    project = root / f"bench_{models}"
    (project / "models").mkdir(parents=True)
    (project / "macros").mkdir()
    # Like dbt/analytics, one listing per schema instead of a DESCRIBE per table (the macro says why).
    (project / "macros" / "list_relations.sql").write_text(LIST_RELATIONS.read_text())
    (project / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0.0'\nconfig-version: 2\nprofile: analytics\n"
        "models:\n  bench:\n    +materialized: table\n    +file_format: iceberg\n"
    )
    schema = ["version: 2", "models:"]
    for i in range(models):
        upstream = "m0" if i % 10 == 1 else f"m{i - 1}" if i % 10 else None
        sql = f"select * from {{{{ ref('{upstream}') }}}}" if upstream else "select 1 as id"
        (project / "models" / f"m{i}.sql").write_text(sql + "\n")
        schema += [f"  - name: m{i}", "    columns:", "      - name: id", "        data_tests: [not_null]"]
    (project / "models" / "schema.yml").write_text("\n".join(schema) + "\n")
    return project


def measure(method: str, project: Path, runs: int, env: dict[str, str]) -> dict[str, float]:
    results = []
    for _ in range(runs):
        proc = subprocess.run(
            [str(BIN / "python"), "-c", CHILD, method, str(project)],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if proc.returncode != 0:
            lines = proc.stderr.splitlines()
            errors = [ln for ln in lines if "Error" in ln] or lines[-1:]
            raise SystemExit(
                f"{method} on {project.name} failed: {errors[-1] if errors else proc.returncode}"
            )
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(r["seconds"] for r in results),
        "peak_mb": max(r["peak_mb"] for r in results),
        "tasks": results[0]["tasks"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "plugin"))
    from dbt_spark_operator.project import write_manifest

    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__COSMOS__ENABLE_CACHE": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "AIRFLOW_CONN_KYUUBI_DEFAULT": json.dumps(
            {"conn_type": "kyuubi", "host": "kyuubi", "login": "admin"}
        ),
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="dbt-spark-bench-") as tmp:
        env["AIRFLOW_HOME"] = str(Path(tmp) / "airflow")
        os.environ.update(env)
        for size in args.sizes:
            project = generate(Path(tmp), size)
            write_manifest(project)
            result = {
                m: measure(m, project, args.runs, env) for m in ("ours", "cosmos_manifest", "cosmos_dbt_ls")
            }
            rows.append((size, result))
            ours = result["ours"]["seconds"]
            manifest, dbt_ls = result["cosmos_manifest"]["seconds"], result["cosmos_dbt_ls"]["seconds"]
            print(
                f"{size} models ({result['ours']['tasks']} tasks): ours {ours:.2f} s, "
                f"Cosmos manifest {manifest:.2f} s ({manifest / ours:.1f}x), "
                f"Cosmos dbt ls {dbt_ls:.2f} s ({dbt_ls / ours:.1f}x)",
                flush=True,
            )
    write_results(args.output, rows, args.runs)
    print(f"wrote {args.output}")
    return 0


def machine() -> str:
    """The line every results file starts its description with."""
    return f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}."


def write_results(path: Path, rows: list, runs: int) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"{machine()} "
        f"Median of {runs} builds in fresh processes (imports excluded, then the GC frozen as Airflow's "
        "DAG processor does before it forks a parser); peak RSS of the process.",
        "Produced by `make bench` (bench/parse_bench.py): Kubernetes execution, a not_null test per model.",
        "",
        "## DAG parse: dbt_task_group vs Cosmos's load paths",
        "",
        "| models | tasks | ours (s) | Cosmos manifest (s) | Cosmos dbt ls, no cache (s) | dbt ls / ours "
        "| manifest / ours | peak MB ours / manifest / dbt ls |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size, r in rows:
        o, m, ls = r["ours"], r["cosmos_manifest"], r["cosmos_dbt_ls"]
        lines.append(
            f"| {size} | {o['tasks']} | {o['seconds']:.2f} | {m['seconds']:.2f} | {ls['seconds']:.2f} "
            f"| {ls['seconds'] / o['seconds']:.1f}x | {m['seconds'] / o['seconds']:.1f}x "
            f"| {o['peak_mb']:.0f} / {m['peak_mb']:.0f} / {ls['peak_mb']:.0f} |"
        )
    lines += [
        "",
        "Goal (issue 7): 1,000 models under 0.94 s, with no JVM, engine or cluster on the parsing host.",
    ]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
