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

from dbt_spark_operator.dev.generated_project import generate

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

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
    from dbt_spark_operator.connection.profile import KyuubiProfileMapping

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


# The DAG files ``airflow dags report`` times whole (imports included), one per folder.
REPORT_HEADER = """
from datetime import datetime
from pathlib import Path
from airflow.sdk import DAG
PROJECT = Path({project!r})
with DAG("report", schedule=None, start_date=datetime(2025, 1, 1)):
"""
REPORT_BODIES = {
    "ours, kubernetes": """
    from dbt_spark_operator import dbt_task_group
    dbt_task_group(PROJECT, execution="kubernetes")
""",
    "ours, local": """
    from dbt_spark_operator import dbt_task_group
    dbt_task_group(PROJECT, execution="local")
""",
    "ours, watcher": """
    from dbt_spark_operator import dbt_task_group
    dbt_task_group(PROJECT, execution="watcher")
""",
    "ours, watcher_kubernetes": """
    from dbt_spark_operator import dbt_task_group
    dbt_task_group(PROJECT, execution="watcher_kubernetes")
""",
    "Cosmos manifest, kubernetes": """
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, LoadMode
    from dbt_spark_operator import KyuubiProfileMapping
    DbtTaskGroup(
        group_id="bench",
        project_config=ProjectConfig(
            project_name="bench", manifest_path=PROJECT / "target" / "manifest.json"
        ),
        profile_config=ProfileConfig(profile_name="analytics", target_name="kyuubi",
                                     profile_mapping=KyuubiProfileMapping()),
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.KUBERNETES,
                                         dbt_project_path="/opt/dbt/projects/bench"),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST),
    )
""",
    "floor: bare KubernetesPodOperators": """
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    for i in range({tasks}):
        KubernetesPodOperator(task_id=f"t{{i}}", name=f"t{{i}}", image="dbt-spark:latest")
""",
    "bare EmptyOperators": """
    from airflow.providers.standard.operators.empty import EmptyOperator
    for i in range({tasks}):
        EmptyOperator(task_id=f"t{{i}}")
""",
}


def dags_report(project: Path, tasks: int, runs: int, env: dict[str, str], tmp: Path) -> dict[str, dict]:
    """Each DAG file of REPORT_BODIES processed whole as Airflow reports it (``airflow dags report``:
    imports, the file, the DagBag's own work), median of ``runs``."""
    home = tmp / "report-home"
    env = {**env, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    found = {}
    for name, body in REPORT_BODIES.items():
        folder = tmp / "report" / name.replace(" ", "_").replace(",", "").replace(":", "")
        folder.mkdir(parents=True)
        source = REPORT_HEADER.format(project=str(project)) + body.format(tasks=tasks)
        (folder / "report_dag.py").write_text(source)
        seconds, task_num = [], 0
        for _ in range(runs):
            proc = subprocess.run(
                [str(BIN / "airflow"), "dags", "report", "-o", "json"],
                env={**env, "AIRFLOW__CORE__DAGS_FOLDER": str(folder)},
                capture_output=True,
                text=True,
                timeout=1800,
            )
            rows = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else []
            if not rows or rows[0]["dag_num"] != "1":
                raise SystemExit(f"airflow dags report, {name}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
            hours, minutes, secs = rows[0]["duration"].split(":")
            seconds.append(int(hours) * 3600 + int(minutes) * 60 + float(secs))
            task_num = int(rows[0]["task_num"])
        found[name] = {"seconds": statistics.median(seconds), "tasks": task_num}
        print(f"airflow dags report, {name}: {found[name]['seconds']:.2f} s ({task_num} tasks)", flush=True)
    return found


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
    parser.add_argument(
        "--report-size", type=int, default=1000, help="models for airflow dags report (0: skip)"
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "plugin"))
    from dbt_spark_operator.project.paths import write_manifest

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
    report: dict[str, dict] = {}
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
        if args.report_size:
            project = Path(tmp) / f"bench_{args.report_size}"
            if not project.exists():
                write_manifest(generate(Path(tmp), args.report_size))
            report = dags_report(project, 2 * args.report_size, args.runs, env, Path(tmp))
    write_results(args.output, rows, args.runs, report, args.report_size)
    print(f"wrote {args.output}")
    return 0


def machine() -> str:
    """The line every results file starts its description with."""
    return f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}."


def write_results(path: Path, rows: list, runs: int, report: dict[str, dict], report_size: int) -> None:
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
    if report:
        floor = report["floor: bare KubernetesPodOperators"]["seconds"]
        cosmos = report["Cosmos manifest, kubernetes"]["seconds"]
        lines += [
            "",
            f"## The DAG file as Airflow reports it: {report_size:,} models",
            "",
            "`airflow dags report`'s duration for a DAG file holding only the task group: the file's whole "
            "processing by Airflow's DagBag, imports included (the table above excludes them), median of "
            f"{runs} runs, each a fresh `airflow` process. The floor: the same number of bare "
            "`KubernetesPodOperator`s, no dbt.",
            "",
            "| DAG file | tasks | seconds | / floor | Cosmos manifest / this |",
            "| --- | --- | --- | --- | --- |",
        ]
        for name, r in report.items():
            lines.append(
                f"| {name} | {r['tasks']} | {r['seconds']:.2f} | {r['seconds'] / floor:.2f}x "
                f"| {cosmos / r['seconds']:.2f}x |"
            )
        lines += [
            "",
            "Goal: ours at most 1.2x the floor and at least 2x faster than Cosmos's manifest load.",
        ]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
