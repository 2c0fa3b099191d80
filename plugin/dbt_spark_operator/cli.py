"""The ``dbt-spark-operator`` command line."""

from __future__ import annotations

import argparse
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


def _demo(args: argparse.Namespace) -> int:
    from dbt_spark_operator.demo import run_demo

    return run_demo(dag_id=args.dag_id)


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

    demo = commands.add_parser("demo", help="run a sample DAG against the local engine and report")
    demo.add_argument("--dag-id", default="simple_model_test")
    demo.set_defaults(func=_demo)
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
