"""The ``dbt-spark-operator`` command line."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dbt_spark_operator.errors import DbtSparkOperatorError

if TYPE_CHECKING:
    from dbt_spark_operator.connection.profile import RenderedProfile


def _engine(args: argparse.Namespace) -> int:
    from dbt_spark_operator.dev.engine import EngineConfig, LocalEngine

    overrides = {
        "home": args.home,
        "port": args.port,
        "auth": getattr(args, "auth", None),
        "tls": getattr(args, "tls", None) or None,
    }
    if getattr(args, "timeout", None):
        overrides["start_timeout"] = args.timeout
    engine = LocalEngine(EngineConfig.from_env(**overrides))
    if args.action == "fetch":
        from dbt_spark_operator.dev.engine import ensure_jars

        jars = ensure_jars(engine.config.jar_cache, engine.config.maven_repo)
        print(f"engine jars in {engine.config.jar_cache}: {', '.join(j.name for j in jars)}")
        return 0
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
    from dbt_spark_operator.project.paths import write_manifest

    print(write_manifest(args.project, args.target))
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dbt_spark_operator.project.paths import bundle, projects_root

    for manifest in bundle(Path(args.source or projects_root()), Path(args.out), args.target):
        print(manifest)
    return 0


def _pods(args: argparse.Namespace) -> int:
    import yaml

    # Airflow logs to stdout, set up when it is first imported; stdout is for the YAML.
    with contextlib.redirect_stdout(sys.stderr):
        from dbt_spark_operator.graph.dbt_task import builds_pod
        from dbt_spark_operator.runtime.rendered_pod import pod_body, render_pod

        dag = _load_dag(args.dag_id, args.dags_folder)
        tasks = [t for t in dag.tasks if builds_pod(t)]
        if args.task:
            tasks = [t for t in tasks if t.task_id == args.task]
            if not tasks:
                raise DbtSparkOperatorError(f"DAG {args.dag_id!r} has no pod task {args.task!r}")
        if not tasks:
            raise DbtSparkOperatorError(f"DAG {args.dag_id!r} has no pod tasks (local execution?)")
        read: dict[int, RenderedProfile] = {}
        docs = [pod_body(render_pod(task, connection=_connection(task, read, False))) for task in tasks]
    print(yaml.safe_dump_all(docs, sort_keys=False), end="")
    return 0


def _check(args: argparse.Namespace) -> int:
    with contextlib.redirect_stdout(sys.stderr):  # Airflow logs to stdout; stdout is for the verdict
        dag = _load_dag(args.dag_id, args.dags_folder)
        checked, problems = check_dag(dag)
    if not checked:
        raise DbtSparkOperatorError(f"DAG {args.dag_id!r} has no dbt task of this package")
    if problems:
        print(f"DAG {args.dag_id}: {len(problems)} problem(s) in {checked} dbt tasks")
        for problem in problems:
            print(f"- {problem}")
        return 1
    print(f"DAG {args.dag_id}: {checked} dbt tasks checked, connection, profile and pods OK")
    return 0


def check_dag(dag: Any) -> tuple[int, list[str]]:
    """Each dbt task of ``dag`` as it would start: connection read and checked, profile rendered, the
    login tried (auth LDAP or CUSTOM), pod built (pod-based tasks). Returns how many tasks were checked
    and each distinct problem, once."""
    from dbt_spark_operator.graph.dbt_task import builds_pod, dbt_task_of
    from dbt_spark_operator.runtime.rendered_pod import render_pod

    problems: dict[str, list[str]] = {}
    read: dict[int, RenderedProfile] = {}
    checked = 0
    for task in dag.tasks:
        dbt = dbt_task_of(task)
        if dbt is None or dbt.dbt_setup is None:
            continue
        checked += 1
        try:
            # The connection, read and checked as a task reads it: login and TLS as the server wants
            # them (one handshake per endpoint); then the task's pod, on a copy, as a worker builds it.
            connection = _connection(task, read, True)
            if builds_pod(task):
                render_pod(task, connection=connection)
        except Exception as exc:  # noqa: BLE001 -- every problem is reported, none stops the check
            text = str(exc).strip().splitlines()
            ours = isinstance(exc, DbtSparkOperatorError) and text
            message = text[0] if ours else f"{type(exc).__name__}: {exc}"
            problems.setdefault(message, []).append(task.task_id)
    return checked, [
        f"{message} ({len(ids)} task{'s' if len(ids) > 1 else ''}: {ids[0]}{', ...' if len(ids) > 1 else ''})"
        for message, ids in problems.items()
    ]


def _connection(task: Any, read: dict[int, RenderedProfile], check_endpoint: bool) -> RenderedProfile | None:
    """The connection of ``task``'s project as its tasks read it, read once per project for one command
    (``read``, by project setup); None for a task of no dbt project."""
    from dbt_spark_operator.graph.dbt_task import dbt_task_of

    dbt = dbt_task_of(task)
    setup = dbt.dbt_setup if dbt is not None else None
    if setup is None:
        return None
    if id(setup) not in read:
        read[id(setup)] = setup.read_connection(check_endpoint)
    return read[id(setup)]


def _load_dag(dag_id: str, dags_folder: str | None) -> Any:
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    from dbt_spark_operator.project.paths import CHECKOUT

    checkout_dags = str(CHECKOUT / "dags") if CHECKOUT is not None else None
    folder = dags_folder or os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or checkout_dags
    folder = folder or conf.get("core", "dags_folder")
    bag = DagBag(dag_folder=folder)
    if dag_id not in bag.dags:
        problem = next((e for f, e in bag.import_errors.items() if dag_id in f), None)
        why = f": {problem.strip().splitlines()[-1]}" if problem else ""
        raise DbtSparkOperatorError(f"DAG {dag_id!r} not found in {folder}{why}")
    return bag.dags[dag_id]


def _demo(args: argparse.Namespace) -> int:
    from dbt_spark_operator.dev.demo import DEMO_DAGS, run_demo

    if args.kubernetes:
        return run_demo(args.dag_id or ("sample_dbt_pipeline",), kubernetes=True)
    return run_demo(args.dag_id or DEMO_DAGS)


def _ui(args: argparse.Namespace) -> int:
    from dbt_spark_operator.dev.ui import run_ui

    return run_ui(args.port, args.host)


def build_parser() -> argparse.ArgumentParser:
    from dbt_spark_operator.project.paths import DEFAULT_TARGET

    parser = argparse.ArgumentParser(prog="dbt-spark-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    engine = commands.add_parser("engine", help="the local Spark thrift engine with an Iceberg warehouse")
    engine.add_argument(
        "action",
        choices=["up", "down", "status", "fetch"],
        help="fetch: download the jars only (up does it too; for a network without the Maven registry)",
    )
    engine.add_argument("--port", type=int, help="thrift port (default 10009, or DBT_SPARK_LOCAL_PORT)")
    engine.add_argument("--home", help="state directory (default DBT_SPARK_ENGINE_HOME or ~/.local/state)")
    engine.add_argument("--timeout", type=float, help="seconds 'up' waits for a first query (default 240)")
    engine.add_argument(
        "--auth",
        choices=["none", "ldap"],
        help="logins: none (default, or DBT_SPARK_ENGINE_AUTH) or ldap (a throw-away OpenLDAP directory)",
    )
    engine.add_argument(
        "--tls",
        action="store_true",
        help="thrift over TLS, a self-signed certificate made at the first start (or DBT_SPARK_ENGINE_TLS)",
    )
    engine.set_defaults(func=_engine)

    manifest = commands.add_parser(
        "manifest", help="parse a dbt project (no engine needed) and print its manifest.json path"
    )
    manifest.add_argument("project", help="project name under dbt/ or a path")
    target_help = f"the target name the DAGs use (default {DEFAULT_TARGET})"
    manifest.add_argument("--target", default=DEFAULT_TARGET, help=target_help)
    manifest.set_defaults(func=_manifest)

    bundle = commands.add_parser(
        "bundle",
        help="copy the dbt projects with fresh manifests into a directory: the projects volume's content",
    )
    bundle.add_argument("--out", required=True, help="the directory to fill (created)")
    bundle.add_argument("--source", help="the projects directory (default DBT_SPARK_PROJECTS_DIR, else dbt/)")
    bundle.add_argument("--target", default=DEFAULT_TARGET, help=target_help)
    bundle.set_defaults(func=_bundle)

    pods = commands.add_parser(
        "pods", help="print the pod manifest each task of a DAG would create (no cluster needed)"
    )
    pods.add_argument("dag_id")
    pods.add_argument("--task", help="only this task id")
    pods.add_argument("--dags-folder", help="default AIRFLOW__CORE__DAGS_FOLDER, else dags/ of the checkout")
    pods.set_defaults(func=_pods)

    check = commands.add_parser(
        "check",
        help="read the DAG's connection and check the profile and pod of every dbt task (no cluster needed)",
    )
    check.add_argument("dag_id")
    check.add_argument("--dags-folder", help="default AIRFLOW__CORE__DAGS_FOLDER, else dags/ of the checkout")
    check.set_defaults(func=_check)

    demo = commands.add_parser("demo", help="run a sample DAG against the local engine and report")
    demo.add_argument("--dag-id", action="append", help="a DAG to run (repeatable; default: the samples)")
    demo.add_argument(
        "--kubernetes",
        action="store_true",
        help="every task a pod on the development cluster (make demo-k8s; inside tools/cluster/exec); "
        "default DAG: sample_dbt_pipeline",
    )
    demo.set_defaults(func=_demo)

    ui = commands.add_parser(
        "ui", help="the local engine and Airflow standalone with the project's DAGs, until Ctrl-C"
    )
    ui.add_argument("--port", type=int, default=8080, help="the Airflow UI's port (default 8080)")
    ui.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine only)"
    )
    ui.set_defaults(func=_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except DbtSparkOperatorError as exc:
        print(f"dbt-spark-operator: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
