"""A graph task's pod as a worker builds it, outside a run: for ``dbt-spark-operator render-pods`` and
``check``, and for the tests. Reads the task's connection as the task would (offline: no handshake)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kubernetes.client import models as k8s

from dbt_spark_operator.graph.dbt_task import dbt_task_of

if TYPE_CHECKING:
    from dbt_spark_operator.connection.profile import RenderedProfile


def task_context(task: Any, run_id: str = "manual__render") -> dict[str, Any]:
    """The parts of an Airflow task context that building a dbt pod reads, for a task outside a run."""
    from types import SimpleNamespace

    when = datetime(2025, 1, 1, tzinfo=UTC)
    ti = SimpleNamespace(
        dag_id=task.dag_id, task_id=task.task_id, run_id=run_id, map_index=-1, try_number=1, logical_date=when
    )
    run = SimpleNamespace(
        run_id=run_id,
        logical_date=when,
        conf={},
        run_type="manual",
        start_date=when,
        data_interval_start=when,
        data_interval_end=when,
    )
    return {
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "dag": task.dag,
        "task": task,
        "dag_run": run,
        "logical_date": when,
        "ds": when.date().isoformat(),
        "ts": when.isoformat(),
        "params": {},
    }


def render_pod(
    task: Any,
    run_id: str = "manual__render",
    dry_run: bool = True,
    connection: RenderedProfile | None = None,
) -> k8s.V1Pod:
    """The pod a Cosmos Kubernetes dbt task would create, as a worker builds it: templates rendered, the
    Kyuubi connection read (the profile and the password's Secret reference added), then
    KubernetesPodOperator's own build path (on a copy: rendering replaces the task's fields).

    A task instance is stood in for by its identifying fields (:func:`task_context`); ``dry_run`` skips
    the one step that asks a live Kubernetes client (whether the worker runs in-cluster, a label).
    ``connection``: the profile already read for this task (``check`` reads it first), else it is read
    here, offline (no handshake).
    """
    task = copy.deepcopy(task)
    context = task_context(task, run_id)
    task.render_template_fields(context)
    dbt = dbt_task_of(task)
    if dbt is not None and (setup := dbt.dbt_setup) is not None:  # the connection, as the task gets it
        rendered = connection or setup.read_connection(check_endpoint=False)
        setup.runtime.apply_connection(setup, task, rendered)
    task.build_kube_args(context, task.add_cmd_flags() if hasattr(task, "add_cmd_flags") else None)
    return task.build_pod_request_obj(context, dry_run=dry_run)


def pod_body(pod: k8s.V1Pod) -> dict[str, Any]:
    """A V1Pod as the request body the API server receives (camelCase keys, no nulls)."""
    from kubernetes.client import ApiClient

    body = ApiClient().sanitize_for_serialization(pod)
    return {"apiVersion": "v1", "kind": "Pod", **body}
