"""dbt's events as the watched build's results: one node's result (:class:`NodeResult`) from either form
dbt gives an event in, a dbt runner callback's message (:func:`from_runner_event`) or a line of its JSON
log (:func:`from_json_log_line`), both read by one converter of the message as dbt's JSON logger renders
it (protobuf's JSON mapping, the proto's field names)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbt_spark_operator.results import NodeStatus


@dataclass(frozen=True)
class NodeResult:
    """What dbt reported of one node it is done with."""

    unique_id: str
    status: NodeStatus
    execution_time: float
    invocation_id: str | None = None
    relation_name: str | None = None
    rows_affected: int | None = None  # in NodeFinished only, where the adapter reports it

    def to_xcom(self) -> dict[str, Any]:
        """The node's entry in the build's XCom (JSON, as ``run_results.json`` names its fields)."""
        entry: dict[str, Any] = {
            "unique_id": self.unique_id,
            "status": self.status.value,
            "execution_time": self.execution_time,
            "invocation_id": self.invocation_id,
        }
        if self.relation_name:
            entry["relation_name"] = self.relation_name
        if self.rows_affected is not None:
            entry["adapter_response"] = {"rows_affected": self.rows_affected}
        return entry


@dataclass(frozen=True)
class RunEnded:
    """dbt's ``StatsLine`` ("Done. PASS=..."): dbt ran every node it could."""


def from_runner_event(event: Any) -> NodeResult | None:
    """A dbt runner callback's message (every event dbt fires): the node's result from ``NodeFinished``,
    which follows each node's result event and adds the adapter's response; None for any other."""
    if event.info.name != "NodeFinished":
        return None
    from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]

    info = {"name": event.info.name, "invocation_id": event.info.invocation_id}
    found = _from_message({"info": info, "data": MessageToDict(event.data, preserving_proto_field_name=True)})
    return found if isinstance(found, NodeResult) else None


def from_json_log_line(line: str) -> NodeResult | RunEnded | None:
    """One line of dbt's JSON log (``--log-format json``): a node's result from its result event
    (``LogModelResult``, ``LogTestResult``..., ``SkippingDetails``: info level, without the adapter's
    response) or from ``NodeFinished`` (debug level, with it); :class:`RunEnded` for ``StatsLine``; None
    for any other line (other events, the pod's own output)."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return _from_message(message) if isinstance(message, Mapping) else None


def _from_message(message: Mapping[str, Any]) -> NodeResult | RunEnded | None:
    """The converter: an event as dbt's JSON log renders it (``info``, ``data``)."""
    info, data = message.get("info"), message.get("data")
    if not isinstance(info, Mapping) or not isinstance(data, Mapping):
        return None
    name = info.get("name")
    if name == "StatsLine":
        return RunEnded()
    node = data.get("node_info") or {}
    if name == "NodeFinished":
        run = data.get("run_result") or {}
        status, seconds = run.get("status"), run.get("execution_time")
        rows = (run.get("adapter_response") or {}).get("rows_affected")
    else:
        status, seconds, rows = node.get("node_status"), data.get("execution_time"), None
    finished = NodeStatus.of(status)
    if not node.get("unique_id") or finished is None:
        return None
    return NodeResult(
        unique_id=node["unique_id"],
        status=finished,
        execution_time=float(seconds or 0.0),
        invocation_id=info.get("invocation_id") or None,
        relation_name=(node.get("node_relation") or {}).get("relation_name") or None,
        rows_affected=int(rows) if isinstance(rows, int | float) and not isinstance(rows, bool) else None,
    )
