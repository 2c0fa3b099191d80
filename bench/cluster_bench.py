"""Kubernetes execution on the development cluster: per-task pod overhead, and whole-run time of
``kubernetes`` and ``watcher_kubernetes`` against one ``dbt build`` in one pod.

For ``dbt/analytics`` (its DAGs ``analytics_kubernetes`` and ``analytics_watcher_kubernetes``) and the
generated 100-model project, through a real Airflow 3 (PostgreSQL, LocalExecutor, parallelism 4) whose
every dbt task is a pod on the cluster, against a local engine on the node's address:

- the floor: the watcher_kubernetes DAG's own build pod (``dbt build`` of the whole project, as the
  worker would build it) created directly through the API, timed from create to Succeeded;
- each DAG once; its wall time from the REST API;
- per model task of the ``kubernetes`` runs, from a watch on the pods and the task logs: worker start to
  pod created, created to running (scheduling, sandbox, containers), running to dbt's first line, dbt
  around the model, the model itself (dbt's own figure), dbt's last line to the task's end (the XCom
  sidecar, the pod's deletion).

Run inside the cluster: ``make bench-cluster`` (``tools/cluster/with python bench/cluster_bench.py``);
writes the cluster section of bench/RUN_RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from parse_bench import machine  # this script's directory is on sys.path

from dbt_spark_operator.dev.airflow_stack import AirflowStack, Postgres, free_port
from dbt_spark_operator.dev.cluster import DevCluster
from dbt_spark_operator.dev.engine import EngineConfig, LocalEngine
from dbt_spark_operator.dev.generated_project import generate

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- cluster_bench.py writes below this line -->"
NODE_DONE = re.compile(r"\d+ of \d+ OK created .* \[\S+ in (\d+\.\d+)s\]")
GENERATED_DAGS = """
from datetime import datetime
from airflow.sdk import DAG
from dbt_spark_operator import dbt_task_group

for mode in ("kubernetes", "watcher_kubernetes"):
    with DAG(f"{name}_{{mode}}", schedule=None, start_date=datetime(2025, 1, 1), max_active_runs=1):
        dbt_task_group({project!r}, execution=mode)
"""


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class PodTimes:
    """When each dbt pod was first seen, first Running and first Succeeded or Failed (watch events, this
    machine's clock), by pod name, with its dbt-node label."""

    def __init__(self, cluster: DevCluster) -> None:
        self.pods: dict[str, dict[str, Any]] = {}
        self._cluster = cluster
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        core = self._cluster.core()
        while not self._stop.is_set():
            stream = watch.Watch().stream(
                core.list_namespaced_pod,
                self._cluster.namespace,
                label_selector="app.kubernetes.io/managed-by=dbt-spark-operator",
                timeout_seconds=5,
            )
            try:
                for event in stream:
                    now = time.time()
                    pod = event["object"]
                    seen = self.pods.setdefault(
                        pod.metadata.name, {"node": pod.metadata.labels.get("dbt-node")}
                    )
                    seen.setdefault("created", now)
                    if pod.status.phase in ("Running", "Succeeded", "Failed"):
                        seen.setdefault("running", now)
                    if pod.status.phase in ("Succeeded", "Failed"):
                        seen.setdefault("ended", now)
            except ApiException:  # "too large resource version" while the API server's cache catches up
                time.sleep(0.2)

    def __enter__(self) -> PodTimes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def floor_build(cluster: DevCluster, stack: AirflowStack, dag_id: str) -> float:
    """The watcher_kubernetes DAG's build pod, created through the API: seconds to Succeeded."""
    from airflow.dag_processing.dagbag import DagBag

    from dbt_spark_operator.runtime.rendered_pod import render_pod

    connection = stack.env["AIRFLOW_CONN_KYUUBI_DEFAULT"]
    os.environ.update(cluster.airflow_env(), AIRFLOW_CONN_KYUUBI_DEFAULT=connection)
    bag = DagBag(dag_folder=stack.env["AIRFLOW__CORE__DAGS_FOLDER"])
    build = next(t for t in bag.dags[dag_id].tasks if t.task_id.endswith("dbt_build"))
    pod = render_pod(build, run_id=f"floor-{int(time.time())}")
    pod.metadata.name = f"floor-{int(time.time())}"
    pod.spec.restart_policy = "Never"
    core = cluster.core()
    started = time.perf_counter()
    core.create_namespaced_pod(cluster.namespace, pod)
    while True:
        phase = core.read_namespaced_pod(pod.metadata.name, cluster.namespace).status.phase
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    core.delete_namespaced_pod(pod.metadata.name, cluster.namespace)
    if phase != "Succeeded":
        raise SystemExit(f"the floor's build pod of {dag_id} failed")
    return seconds


def run(stack: AirflowStack, dag_id: str, pods: PodTimes | None = None) -> dict[str, Any]:
    stack.wait_for_dag(dag_id, timeout=600)
    run_id = f"bench-{int(time.time())}"
    result = stack.wait_for_run(dag_id, stack.trigger(dag_id, run_id), timeout=3600)
    if result["state"] != "success":
        raise SystemExit(f"{dag_id} failed:\n{stack.failures(dag_id, run_id)}")
    tis = stack.task_instances(dag_id, run_id)
    return {
        "wall": _ts(result["end_date"]) - _ts(result["start_date"]),
        "tasks": len(tis),
        "overheads": model_overheads(stack, dag_id, run_id, tis, pods) if pods else [],
    }


def model_overheads(
    stack: AirflowStack, dag_id: str, run_id: str, tis: dict[str, Any], pods: PodTimes
) -> list[dict[str, float]]:
    """Per model task: where its time went, from its pod's watch times and its task log."""
    by_node = {p["node"]: p for p in pods.pods.values() if "ended" in p}
    rows = []
    for task_id, ti in tis.items():
        if not task_id.endswith(".run"):
            continue
        node = task_id.split(".")[-2].lower().replace("_", "-")
        pod = by_node.get(node)
        log = stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        entries = [json.loads(x) for x in (log / f"attempt={ti['try_number']}.log").read_text().splitlines()]
        dbt = [e for e in entries if str(e.get("event", "")).startswith("[base]")]
        model = [float(m.group(1)) for e in dbt if (m := NODE_DONE.search(str(e.get("event", ""))))]
        if pod is None or not dbt or not model:
            continue
        start, end = _ts(ti["start_date"]), _ts(ti["end_date"])
        first, last = _ts(dbt[0]["timestamp"]), _ts(dbt[-1]["timestamp"])
        rows.append(
            {
                "duration": end - start,
                "model": model[0],
                "to_pod": pod["created"] - start,
                "to_running": pod["running"] - pod["created"],
                "to_dbt": first - pod["running"],
                "dbt_besides_model": last - first - model[0],
                "after_dbt": end - last,
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "RUN_RESULTS.md")
    parser.add_argument("--projects", default="analytics,bench_100", help="comma-separated")
    args = parser.parse_args()
    cluster = DevCluster.running()
    tmp = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    projects = tmp / "projects"
    generated = generate(projects, 100)
    engine = LocalEngine(EngineConfig.from_env(home=tmp / "engine", host=cluster.node_ip, port=free_port()))
    engine.up()
    postgres = Postgres(free_port())
    postgres.start()
    dags = tmp / "dags"
    dags.mkdir()
    for dag_file in (
        "dags/analytics_kubernetes.py",
        "tests/integration_dags/analytics_watcher_kubernetes.py",
    ):
        (dags / Path(dag_file).name).symlink_to(ROOT / dag_file)
    (dags / "bench_100.py").write_text(GENERATED_DAGS.format(name="bench_100", project=str(generated)))
    connection = {
        "conn_type": "kyuubi",
        "host": cluster.node_ip,
        "port": engine.config.port,
        "login": "bench",
    }
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__CORE__"))},
        **cluster.airflow_env(),
        "AIRFLOW_CONN_KYUUBI_DEFAULT": json.dumps(connection),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    }
    stack = AirflowStack(tmp / "airflow", dags, postgres.url, free_port(), env)
    results: dict[str, dict[str, Any]] = {}
    try:
        cluster.publish_projects(ROOT / "dbt", projects)
        stack.start(connections={})
        for name in args.projects.split(","):
            kubernetes, watcher = f"{name}_kubernetes", f"{name}_watcher_kubernetes"
            with PodTimes(cluster) as pods:
                k8s = run(stack, kubernetes, pods)
            watched = run(stack, watcher)
            floor = floor_build(cluster, stack, watcher)
            results[name] = {"floor": floor, "kubernetes": k8s, "watcher_kubernetes": watched}
            print(
                f"{name}: dbt build pod {floor:.1f} s, kubernetes {k8s['wall']:.1f} s "
                f"({k8s['wall'] / floor:.1f}x), watcher_kubernetes {watched['wall']:.1f} s "
                f"({watched['wall'] / floor:.1f}x)",
                flush=True,
            )
    finally:
        stack.stop()
        postgres.stop()
        engine.down()
    write_results(args.output, results)
    return 0


def write_results(path: Path, results: dict[str, dict[str, Any]]) -> None:
    lines = [
        MARKER,
        "",
        "## On the development cluster: Kubernetes execution, a pod per task",
        "",
        f"{machine()} One run, `make bench-cluster` (bench/cluster_bench.py): the single-node "
        "Kubernetes 1.34 of `make cluster` (containerd, the images imported, `imagePullPolicy: Never`), a "
        "real Airflow 3 (PostgreSQL, LocalExecutor, parallelism 4) outside the pods, the local engine on "
        "the node's address. The floor is one pod running `dbt build` of the whole project (the "
        "watcher_kubernetes DAG's own build pod, created through the API), create to Succeeded.",
        "",
        "| project | dbt build in one pod (s) | `kubernetes` (tasks, s, ratio) "
        "| `watcher_kubernetes` (tasks, s, ratio) |",
        "| --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        k, w, floor = r["kubernetes"], r["watcher_kubernetes"], r["floor"]
        lines.append(
            f"| {name} | {floor:.1f} | {k['tasks']} tasks, {k['wall']:.1f} s, **{k['wall'] / floor:.1f}x** | "
            f"{w['tasks']} tasks, {w['wall']:.1f} s, **{w['wall'] / floor:.1f}x** |"
        )
    overheads = [o for r in results.values() for o in r["kubernetes"]["overheads"]]
    if overheads:
        med = {k: statistics.median(o[k] for o in overheads) for k in overheads[0]}
        lines += [
            "",
            f"Per model task of the `kubernetes` runs ({len(overheads)} tasks), medians in seconds: the task "
            f"took **{med['duration']:.2f}**, of which the model itself (dbt's own figure) "
            f"{med['model']:.2f}; "
            f"worker start to pod created {med['to_pod']:.2f}, created to running (scheduling, sandbox, "
            f"containers) {med['to_running']:.2f}, running to dbt's first line {med['to_dbt']:.2f}, dbt "
            f"around the model {med['dbt_besides_model']:.2f}, dbt's last line to the task's end (XCom "
            f"sidecar, pod deletion) {med['after_dbt']:.2f}.",
        ]
    kept = path.read_text().split(MARKER)[0].rstrip() + "\n\n" if path.exists() else ""
    path.write_text(kept + "\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
