"""What every dbt task that runs a pod adds to ``KubernetesPodOperator``: the XCom sidecar on the image
:class:`~dbt_spark_operator.pod.settings.PodSettings` names, and a pod the API server refuses (Pod Security
admission, a quota, missing rights) failing the task with one line that says why, instead of the API
client's multi-line HTTP dump.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kubernetes.client.exceptions import ApiException

from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.graph.dbt_task import DbtTask
from dbt_spark_operator.pod.settings import with_xcom_sidecar_image

if TYPE_CHECKING:
    from kubernetes.client import models as k8s


def refusal(exc: ApiException) -> str | None:
    """The API server's own reason for refusing a request (its Status ``message``, one line), or None
    when ``exc`` is no refusal (a server error, a conflict, a timeout: the provider's retries handle
    those)."""
    if exc.status not in (400, 403, 422):
        return None
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    text = str(message or exc.reason or "").strip()
    return " ".join(text.split()) or None


class PodTaskMixin(DbtTask):
    """Mixed in before a ``KubernetesPodOperator`` subclass (the nine operators, the watcher's build pod,
    every Kubernetes task of a task group)."""

    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> k8s.V1Pod:
        """The provider's pod, its XCom sidecar (when the task pushes XCom) on the configured image."""
        pod = super().build_pod_request_obj(context, dry_run=dry_run)  # type: ignore[misc]
        return with_xcom_sidecar_image(pod, self.require_setup().pod_settings)

    def get_or_create_pod(self, pod_request_obj: k8s.V1Pod, context: Any) -> k8s.V1Pod:
        """The provider's, with a refused pod failing the task with the API server's reason."""
        try:
            pod: k8s.V1Pod = super().get_or_create_pod(pod_request_obj, context)  # type: ignore[misc]
        except ApiException as exc:
            reason = refusal(exc)
            if reason is None:
                raise
            meta = pod_request_obj.metadata
            raise DbtSparkOperatorError(
                f"Kubernetes refused the dbt pod {meta.name} in namespace {meta.namespace}: {reason}"
            ) from None
        return pod
