"""The cluster suite: a real Airflow whose every dbt task is a pod on the development cluster.

It runs inside the cluster's network namespace (``tools/cluster/with pytest tests/cluster``, which
``make test`` calls): the API server, the node and the pod network are there, and so are the local
engine (on the node's address, LDAP logins: the password reaches pods only from a Secret), PostgreSQL
and Airflow's services this suite starts.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dbt_spark_operator.dev.airflow_stack import AirflowStack
from dbt_spark_operator.dev.cluster import PASSWORD_SECRET, DevCluster
from dbt_spark_operator.dev.engine import EngineConfig, LocalEngine, run_query
from helpers import EXPECTED_SIMPLE_PIPELINE, ROOT, SESSION_DIR, free_port, running_stack

CLUSTER_DAGS = [
    ROOT / "dags" / "sample_dbt_pipeline.py",
    ROOT / "dags" / "analytics_kubernetes.py",
    ROOT / "tests" / "integration_dags" / "analytics_watcher_kubernetes.py",
    ROOT / "tests" / "cluster_dags" / "pod_faults.py",
]


@pytest.fixture(scope="session")
def cluster() -> DevCluster:
    return DevCluster.running()


@pytest.fixture(scope="session")
def cluster_engine(cluster: DevCluster) -> Iterator[LocalEngine]:
    """The local engine on the node's address, checking logins against its own OpenLDAP."""
    engine = LocalEngine(
        EngineConfig.from_env(
            home=SESSION_DIR / "engine-cluster", host=cluster.node_ip, port=free_port(), auth="ldap"
        )
    )
    engine.up()
    yield engine
    engine.down()


def cluster_query(engine: LocalEngine, sql: str) -> list[tuple[Any, ...]]:
    cfg = engine.config
    return run_query(cfg.host, cfg.port, sql, timeout=120, credentials=cfg.credentials())


@pytest.fixture(scope="session")
def engine_password(cluster: DevCluster, cluster_engine: LocalEngine) -> str:
    """The engine's password, in the Secret the DAGs' PodSettings name (and nowhere in a pod spec)."""
    name, key = PASSWORD_SECRET
    password = cluster_engine.config.ldap.service_user()[1]
    cluster.put_secret(name, {key: password})
    return password


@pytest.fixture(scope="session")
def published(cluster: DevCluster) -> list[Path]:
    """The checkout's dbt projects and the test projects on the projects volume, as production delivers
    them (``dbt-spark-operator bundle``: fresh manifests, no target/ or logs/)."""
    return cluster.publish_projects(ROOT / "dbt", ROOT / "tests" / "dbt_projects")


@pytest.fixture(scope="session")
def cluster_stack(
    cluster: DevCluster, cluster_engine: LocalEngine, engine_password: str, published: list[Path]
) -> Iterator[AirflowStack]:
    """Airflow's four services (LocalExecutor, parallelism 4) running every dbt task as a pod."""
    user = cluster_engine.config.ldap.service_user()[0]
    connection = cluster.kyuubi_connection(cluster_engine.config.port, user, engine_password)
    with running_stack(
        "cluster-stack", CLUSTER_DAGS, {"kyuubi_default": connection}, cluster.airflow_env()
    ) as airflow:
        yield airflow


class PodLog:
    """Every dbt pod created in the dbt namespace while it runs (a watch on the API server): name, the
    dbt node and resource type it is labelled with, its last phase. Pods there before it are left out."""

    def __init__(self, cluster: DevCluster) -> None:
        self.pods: dict[str, dict[str, str]] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._cluster = cluster
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        core = self._cluster.core()
        ours = "app.kubernetes.io/managed-by=dbt-spark-operator"
        before = {p.metadata.name for p in core.list_namespaced_pod(self._cluster.namespace).items}
        self._ready.set()
        while not self._stop.is_set():
            stream = watch.Watch().stream(
                core.list_namespaced_pod, self._cluster.namespace, label_selector=ours, timeout_seconds=5
            )
            try:
                for event in stream:
                    pod = event["object"]
                    if pod.metadata.name in before:
                        continue
                    labels = pod.metadata.labels or {}
                    self.pods.setdefault(pod.metadata.name, {}).update(
                        node=labels.get("dbt-node", ""),
                        kind=labels.get("dbt-resource-type", ""),
                        phase=pod.status.phase or "",
                    )
            except ApiException:  # "too large resource version" while the API server's cache catches up
                time.sleep(0.2)  # a new watch lists every pod again

    def __enter__(self) -> PodLog:
        self._thread.start()
        self._ready.wait(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def run_dag(
    stack: AirflowStack, dag_id: str, run_id: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Trigger ``dag_id`` through the REST API and wait for its end: the run and its task instances."""
    stack.wait_for_dag(dag_id)
    stack.trigger(dag_id, run_id)
    run = stack.wait_for_run(dag_id, run_id, timeout=1200)
    return run, stack.task_instances(dag_id, run_id)


def task_log(
    stack: AirflowStack, dag_id: str, run_id: str, task_id: str, attempt: int = 1
) -> list[dict[str, Any]]:
    """The task's log entries (Airflow 3 writes JSON lines) of one attempt."""
    path = (
        stack.home
        / "logs"
        / f"dag_id={dag_id}"
        / f"run_id={run_id}"
        / f"task_id={task_id}"
        / f"attempt={attempt}.log"
    )
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def assert_all_succeeded(
    stack: AirflowStack, dag_id: str, run_id: str, run: dict[str, Any], tis: dict[str, Any]
) -> None:
    failed = {t: ti["state"] for t, ti in tis.items() if ti["state"] != "success"}
    assert run["state"] == "success" and not failed, stack.failures(dag_id, run_id)


def test_sample_pipeline_every_task_a_pod_results_through_the_sidecar(
    cluster: DevCluster, cluster_stack: AirflowStack, cluster_engine: LocalEngine
) -> None:
    """The nine-operator pipeline: every task ran as its own pod on the cluster and succeeded, the command
    operators' results came back through the XCom sidecar, and simple_pipeline holds its five rows."""
    with PodLog(cluster) as pods:
        run, tis = run_dag(cluster_stack, "sample_dbt_pipeline", "k8s_sample")
    assert_all_succeeded(cluster_stack, "sample_dbt_pipeline", "k8s_sample", run, tis)
    assert len(tis) >= 30
    # One pod per task, each of which ran to its end (the watch saw it Succeeded before its deletion).
    assert len(pods.pods) == len(tis), (sorted(tis), pods.pods)
    assert {p["phase"] for p in pods.pods.values()} == {"Succeeded"}, pods.pods
    seed = cluster_stack.request(
        "GET", "/dags/sample_dbt_pipeline/dagRuns/k8s_sample/taskInstances/dbt_seed/xcomEntries/return_value"
    )["value"]
    seeds = [n for n in seed["nodes"] if n["node"].startswith("seed.analytics.")]
    assert seeds and all(n["status"] == "success" and n["rows_affected"] > 0 for n in seeds), seed
    rows = cluster_query(cluster_engine, "SELECT * FROM simple_pipeline ORDER BY id")
    assert [tuple(r) for r in rows] == EXPECTED_SIMPLE_PIPELINE


def test_analytics_kubernetes_every_node_its_pod(cluster: DevCluster, cluster_stack: AirflowStack) -> None:
    with PodLog(cluster) as pods:
        run, tis = run_dag(cluster_stack, "analytics_kubernetes", "k8s_analytics")
    assert_all_succeeded(cluster_stack, "analytics_kubernetes", "k8s_analytics", run, tis)
    kinds = Counter(p["kind"] for p in pods.pods.values())
    assert kinds["model"] >= 5 and kinds["test"] >= 10 and kinds["seed"] >= 1, kinds


def test_watcher_kubernetes_one_build_pod_node_tasks_mirror_its_log(
    cluster: DevCluster, cluster_stack: AirflowStack
) -> None:
    """One ``dbt build`` pod; every node task takes its result from that pod's log stream (no pod of its
    own) and succeeds."""
    with PodLog(cluster) as pods:
        run, tis = run_dag(cluster_stack, "analytics_watcher_kubernetes", "k8s_watcher")
    assert_all_succeeded(cluster_stack, "analytics_watcher_kubernetes", "k8s_watcher", run, tis)
    kinds = Counter(p["kind"] for p in pods.pods.values())
    # The build, dbt_deps and the source's freshness task (which runs as in Kubernetes execution).
    assert kinds == Counter({"build": 1, "deps": 1, "source": 1}), pods.pods
    assert all(ti["try_number"] == 1 for ti in tis.values())


def test_a_pod_deleted_while_dbt_runs_its_retry_builds_the_model(
    cluster: DevCluster, cluster_stack: AirflowStack, cluster_engine: LocalEngine, engine_password: str
) -> None:
    """Deleting a model's pod while dbt runs in it fails that try; the retry's pod builds the whole table.
    The pod as the API server stores it holds the password only as a Secret reference."""
    from kubernetes.client import ApiClient

    cluster_stack.wait_for_dag("pod_deleted")
    cluster_stack.trigger("pod_deleted", "k8s_deleted")
    core = cluster.core()
    deadline = time.monotonic() + 300
    victim = None
    while victim is None and time.monotonic() < deadline:
        for pod in core.list_namespaced_pod(cluster.namespace, label_selector="dbt-node=slow-numbers").items:
            if pod.status.phase != "Running":
                continue
            log = core.read_namespaced_pod_log(pod.metadata.name, cluster.namespace, container="base")
            if "START sql table model" in log:
                victim = pod
        time.sleep(0.5)
    assert victim is not None, "the model's pod never ran dbt"

    stored = ApiClient().sanitize_for_serialization(victim)
    assert engine_password not in json.dumps(stored)
    env = [e for c in victim.spec.containers for e in c.env or []]
    by_secret = [e for e in env if e.value_from is not None and e.value_from.secret_key_ref is not None]
    assert [(e.value_from.secret_key_ref.name, e.value_from.secret_key_ref.key) for e in by_secret] == [
        PASSWORD_SECRET
    ]
    assert all(engine_password not in (e.value or "") for e in env)

    core.delete_namespaced_pod(victim.metadata.name, cluster.namespace, grace_period_seconds=0)
    run = cluster_stack.wait_for_run("pod_deleted", "k8s_deleted", timeout=600)
    tis = cluster_stack.task_instances("pod_deleted", "k8s_deleted")
    assert run["state"] == "success", cluster_stack.failures("pod_deleted", "k8s_deleted")
    model = next(t for t in tis if t.endswith("run"))
    assert tis[model]["try_number"] == 2 and tis[model]["state"] == "success"
    rows = cluster_query(cluster_engine, "SELECT id FROM podded.slow_numbers ORDER BY id")
    assert [r[0] for r in rows] == [0, 1, 2]


def test_logs_of_a_failed_dbt_node_reach_the_task_log(cluster_stack: AirflowStack) -> None:
    run, tis = run_dag(cluster_stack, "pod_failing_node", "k8s_failing")
    assert run["state"] == "failed"
    model = next(t for t in tis if t.endswith("run"))
    assert tis[model]["state"] == "failed"
    text = "\n".join(
        e.get("event", "") for e in task_log(cluster_stack, "pod_failing_node", "k8s_failing", model)
    )
    assert "podded_source_that_does_not_exist" in text and "TABLE_OR_VIEW_NOT_FOUND" in text, text[-3000:]


def test_a_pod_refused_by_admission_fails_its_task_with_the_violation(cluster_stack: AirflowStack) -> None:
    run, tis = run_dag(cluster_stack, "pod_refused", "k8s_refused")
    assert run["state"] == "failed"
    model = next(t for t in tis if t.endswith("run"))
    assert tis[model]["state"] == "failed"
    errors = [
        detail
        for entry in task_log(cluster_stack, "pod_refused", "k8s_refused", model)
        for detail in entry.get("error_detail") or []
    ]
    values = [str(d.get("exc_value", "")) for d in errors]
    line = next((v for v in values if v.startswith("Kubernetes refused the dbt pod")), None)
    assert line is not None, errors
    assert "\n" not in line and 'violates PodSecurity "restricted:latest"' in line and "hostPath" in line
