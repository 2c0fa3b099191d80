"""The ``dbt-spark-operator`` command line."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from dbt_spark_operator.errors import DbtSparkOperatorError


def _engine(args: argparse.Namespace) -> int:
    from dbt_spark_operator.engine import EngineConfig, LocalEngine

    overrides = {"home": args.home, "port": args.port}
    if getattr(args, "timeout", None):
        overrides["start_timeout"] = args.timeout
    engine = LocalEngine(EngineConfig.from_env(**overrides))
    if args.action == "up":
        was_running = engine.status().running
        status = engine.up()
        prefix = "already " if was_running else f"started in {status.started_seconds} s, "
        print(f"engine {prefix}{status.describe()}")
        return 0
    if args.action == "down":
        print(
            "engine stopped; data kept in " + str(engine.config.home)
            if engine.down()
            else "engine was not running"
        )
        return 0
    status = engine.status()
    print("engine " + status.describe())
    return 0 if status.running else 3


def _manifest(args: argparse.Namespace) -> int:
    from dbt_spark_operator.project import write_manifest

    print(write_manifest(args.project))
    return 0


def _pods(args: argparse.Namespace) -> int:
    import yaml

    with contextlib.redirect_stdout(sys.stderr):  # Airflow logs to stdout; stdout is for the YAML
        docs = _render_pods(args)
    print(yaml.safe_dump_all(docs, sort_keys=False), end="")
    return 0


def _render_pods(args: argparse.Namespace) -> list[dict]:
    from airflow.dag_processing.dagbag import DagBag

    from dbt_spark_operator.pod import pod_manifest, render_pod
    from dbt_spark_operator.project import CHECKOUT

    folder = args.dags_folder or os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or str(CHECKOUT / "dags")
    bag = DagBag(dag_folder=folder)
    if args.dag_id not in bag.dags:
        problem = next((e for f, e in bag.import_errors.items() if args.dag_id in f), None)
        raise DbtSparkOperatorError(
            f"DAG {args.dag_id!r} not found in {folder}"
            + (f": {problem.strip().splitlines()[-1]}" if problem else "")
        )
    dag = bag.dags[args.dag_id]
    tasks = [t for t in dag.tasks if hasattr(t, "build_pod_request_obj")]
    if args.task:
        tasks = [t for t in tasks if t.task_id == args.task]
        if not tasks:
            raise DbtSparkOperatorError(f"DAG {args.dag_id!r} has no pod task {args.task!r}")
    if not tasks:
        raise DbtSparkOperatorError(f"DAG {args.dag_id!r} has no pod tasks (local execution?)")
    return [pod_manifest(render_pod(task)) for task in tasks]


def _demo(args: argparse.Namespace) -> int:
    from dbt_spark_operator.demo import DEMO_DAGS, run_demo

    return run_demo(args.dag_id or DEMO_DAGS)


def _ui(args: argparse.Namespace) -> int:
    from dbt_spark_operator.ui import run_ui

    return run_ui(args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dbt-spark-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    engine = commands.add_parser("engine", help="the local Spark thrift engine with an Iceberg warehouse")
    engine.add_argument("action", choices=["up", "down", "status"])
    engine.add_argument("--port", type=int, help="thrift port (default 10009, or DBT_SPARK_LOCAL_PORT)")
    engine.add_argument("--home", help="state directory (default DBT_SPARK_ENGINE_HOME or ~/.local/state)")
    engine.add_argument("--timeout", type=float, help="seconds 'up' waits for a first query (default 240)")
    engine.set_defaults(func=_engine)

    manifest = commands.add_parser(
        "manifest", help="parse a dbt project (no engine needed) and print its manifest.json path"
    )
    manifest.add_argument("project", help="project name under dbt/ or a path")
    manifest.set_defaults(func=_manifest)

    pods = commands.add_parser(
        "pods", help="print the pod manifest each task of a DAG would create (no cluster needed)"
    )
    pods.add_argument("dag_id")
    pods.add_argument("--task", help="only this task id")
    pods.add_argument("--dags-folder", help="default AIRFLOW__CORE__DAGS_FOLDER, else dags/ of the checkout")
    pods.set_defaults(func=_pods)

    demo = commands.add_parser("demo", help="run a sample DAG against the local engine and report")
    demo.add_argument("--dag-id", action="append", help="a DAG to run (repeatable; default: both samples)")
    demo.set_defaults(func=_demo)

    ui = commands.add_parser(
        "ui", help="the local engine and Airflow standalone with the project's DAGs, until Ctrl-C"
    )
    ui.add_argument("--port", type=int, default=8080, help="the Airflow UI's port (default 8080)")
    ui.set_defaults(func=_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DbtSparkOperatorError as exc:
        print(f"dbt-spark-operator: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
