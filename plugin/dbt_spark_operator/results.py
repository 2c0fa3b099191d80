"""A compact summary of a dbt result artifact (run_results.json or sources.json) for logs and XCom."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

# Statuses that fail a task (dbt exits non-zero on them too) and those that only warn.
FAILED = {"error", "fail", "runtime error"}
WARNED = {"warn"}


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
    return {
        "counts": dict(sorted(counts.items())),
        "warned": [n["node"] for n in nodes if n["status"] in WARNED],
        "failed": [n["node"] for n in nodes if n["status"] in FAILED],
        "nodes": nodes,
    }


def describe(summary: Mapping[str, Any]) -> str:
    """``pass=5, warn=1``: the counts in one line."""
    return ", ".join(f"{status}={n}" for status, n in summary["counts"].items()) or "no nodes"
