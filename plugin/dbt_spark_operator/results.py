"""dbt's node statuses (:class:`NodeStatus`), and a compact summary of a dbt result artifact
(run_results.json or sources.json) for logs and XCom."""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping
from typing import Any


class NodeStatus(enum.StrEnum):
    """The status dbt gives a node it is done with (its ``RunStatus``, ``TestStatus`` and
    ``FreshnessStatus`` values); a running node's (``started``, ``compiling``, ``executing``) is none."""

    SUCCESS = "success"
    ERROR = "error"
    FAIL = "fail"
    WARN = "warn"
    SKIPPED = "skipped"
    PARTIAL_SUCCESS = "partial success"
    PASS = "pass"
    RUNTIME_ERROR = "runtime error"
    NO_OP = "no-op"

    @classmethod
    def of(cls, value: object) -> NodeStatus | None:
        """``value`` as a status dbt gives a finished node; None for anything else."""
        if not isinstance(value, str):
            return None
        try:
            return cls(value)
        except ValueError:
            return None

    @property
    def succeeded(self) -> bool:
        """dbt built, tested or checked the node without an error: success, pass, warn, no-op."""
        return self in _SUCCEEDED

    @property
    def failed(self) -> bool:
        """The node failed its task (dbt exits non-zero on it too): error, fail, runtime error."""
        return self in _FAILED

    @property
    def warned(self) -> bool:
        """A test or freshness check that only warned."""
        return self is NodeStatus.WARN


_SUCCEEDED = frozenset({NodeStatus.SUCCESS, NodeStatus.PASS, NodeStatus.WARN, NodeStatus.NO_OP})
_FAILED = frozenset({NodeStatus.ERROR, NodeStatus.FAIL, NodeStatus.RUNTIME_ERROR})


def summarize(artifact: Mapping[str, Any] | None) -> dict[str, Any]:
    """Per node: status, seconds, and rows affected or failures; plus counts and the warned/failed names."""
    nodes = []
    for result in (artifact or {}).get("results", []):
        node: dict[str, Any] = {
            "node": result.get("unique_id"),
            "status": str(result.get("status")),
            "seconds": round(float(result.get("execution_time") or 0.0), 2),
        }
        rows = (result.get("adapter_response") or {}).get("rows_affected")
        if rows is not None and rows >= 0:
            node["rows_affected"] = rows
        if result.get("failures") is not None:
            node["failures"] = result["failures"]
        if result.get("max_loaded_at") is not None:  # source freshness
            node["max_loaded_at"] = result["max_loaded_at"]
            node["age_seconds"] = round(float(result.get("max_loaded_at_time_ago_in_s") or 0.0))
        nodes.append(node)
    counts = Counter(n["status"] for n in nodes)
    statuses = [(n["node"], NodeStatus.of(n["status"])) for n in nodes]
    return {
        "counts": dict(sorted(counts.items())),
        "warned": [node for node, status in statuses if status is not None and status.warned],
        "failed": [node for node, status in statuses if status is not None and status.failed],
        "nodes": nodes,
    }


def describe(summary: Mapping[str, Any]) -> str:
    """``pass=5, warn=1``: the counts in one line."""
    return ", ".join(f"{status}={n}" for status, n in summary["counts"].items()) or "no nodes"
