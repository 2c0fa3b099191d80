"""Every seed, model and snapshot an Airflow Asset: the relation dbt writes, named from the manifest.

One naming scheme, to write by hand in another DAG's ``schedule=[Asset(...)]``::

    kyuubi://<conn_id>/<schema>/<table>

``<conn_id>`` is the Airflow connection the tasks use (the endpoint, known without reading it),
``<schema>`` and ``<table>`` are the node's schema and alias in the manifest (a source's schema and
identifier), with ``<catalog>/`` before the schema when dbt names a catalog of its own. The asset's name
is its URI. A DAG that names the target schema (``profile_args={"schema": ...}``) gets it in the names of
the nodes dbt puts there; otherwise they carry the schema the manifest was parsed with (``default``).

A task declares its node's asset as outlet and the assets of the nodes it reads as inlets, at DAG parse.
Airflow records an asset event when the task succeeds; its ``extra`` holds what dbt reported for the
node (:func:`event_extra`). Ephemeral models and tests have no asset.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow.sdk import Asset

from dbt_spark_operator.connection.provider import DEFAULT_CONN_ID
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.graph import dbt_task
from dbt_spark_operator.project.config import DbtProject, project_of
from dbt_spark_operator.project.manifest import Manifest, manifest_path, read_manifest
from dbt_spark_operator.project.paths import DEFAULT_TARGET, PARSE_SCHEMA_ENV

SCHEME = "kyuubi"
PRODUCERS = frozenset({"model", "seed", "snapshot"})
log = logging.getLogger(__name__)


def relation_uri(conn_id: str, schema: str, table: str, catalog: str | None = None) -> str:
    """The URI of the asset of relation ``[catalog.]schema.table`` written through ``conn_id``."""
    parts = [p for p in (catalog, schema, table) if p]
    return f"{SCHEME}://{conn_id}/" + "/".join(quote(p, safe="") for p in parts)


def relation_asset(conn_id: str, schema: str, table: str, catalog: str | None = None) -> Asset:
    uri = relation_uri(conn_id, schema, table, catalog)
    return Asset(uri=uri, name=uri)


@dataclass(frozen=True)
class ProjectAssets:
    """The assets of one project's nodes, as the tasks of one task group declare them."""

    manifest: Manifest
    conn_id: str = DEFAULT_CONN_ID
    schema: str | None = None  # the target schema the DAG names, in place of the one parsed with
    _cache: dict[str, Asset | None] = field(default_factory=dict, repr=False, compare=False)

    def _schema(self, schema: str) -> str:
        """A node's schema under the DAG's target schema (dbt's default ``generate_schema_name``: the
        target schema, or ``<target schema>_<custom schema>``)."""
        parsed = self.manifest.metadata.env.get(PARSE_SCHEMA_ENV)
        if self.schema is None or parsed is None or self.schema == parsed:
            return schema
        if schema == parsed:
            return self.schema
        if schema.startswith(f"{parsed}_"):
            return self.schema + schema[len(parsed) :]
        return schema

    def asset(self, unique_id: str) -> Asset | None:
        """The asset of a seed, model (not ephemeral), snapshot or source; None for any other node."""
        if unique_id not in self._cache:
            self._cache[unique_id] = self._asset(unique_id)
        return self._cache[unique_id]

    def _asset(self, unique_id: str) -> Asset | None:
        if (source := self.manifest.sources.get(unique_id)) is not None:
            catalog = source.database if source.database != source.schema else None
            return relation_asset(self.conn_id, source.schema, source.identifier or source.name, catalog)
        node = self.manifest.nodes.get(unique_id)
        if (
            node is None
            or node.resource_type not in PRODUCERS
            or node.config.get("materialized") == "ephemeral"
        ):
            return None
        catalog = node.database if node.database != node.schema else None
        return relation_asset(self.conn_id, self._schema(node.schema), node.alias or node.name, catalog)

    def inlets(self, unique_id: str) -> list[Asset]:
        """The assets a node reads: its parents', through ephemeral models to what they read."""
        found: dict[str, Asset] = {}
        seen: set[str] = set()
        pending = list(self._parents(unique_id))
        while pending:
            parent = pending.pop()
            if parent in seen:
                continue
            seen.add(parent)
            if (asset := self.asset(parent)) is not None:
                found[asset.uri] = asset
            elif parent in self.manifest.nodes and self.manifest.nodes[parent].resource_type == "model":
                pending.extend(self._parents(parent))  # an ephemeral model: what it reads
        return sorted(found.values(), key=lambda a: a.uri)

    def _parents(self, unique_id: str) -> list[str]:
        node = self.manifest.nodes.get(unique_id)
        return list(node.depends_on.nodes) if node is not None else []


def dbt_asset(
    project: DbtProject | str | os.PathLike[str],
    node: str,
    *,
    conn_id: str = DEFAULT_CONN_ID,
    schema: str | None = None,
    manifest: str | os.PathLike[str] | None = None,
) -> Asset:
    """The asset of a seed, model, snapshot or source of ``project`` as
    :func:`~dbt_spark_operator.dbt_task_group` declares it. Reads the manifest only (no connection), so
    it serves a DAG's ``schedule``: ``schedule=[dbt_asset("analytics", "simple_pipeline")]``.

    :param project: a :class:`~dbt_spark_operator.DbtProject`, or the dbt project's name under
        ``DBT_SPARK_PROJECTS_DIR`` or its path
    :param node: a seed, model or snapshot by name (``"simple_pipeline"``), or a source
        (``"source:raw.employee_events"``)
    :param conn_id: the task group's ``conn_id``
    :param schema: the task group's ``profile_args["schema"]``, when it sets one
    :param manifest: a ``manifest.json`` to read (default ``<project>/target/manifest.json``; one given
        beside a ``DbtProject`` is an error)
    """
    dbt_project = project_of("dbt_asset", project, {"manifest": manifest})
    path = dbt_project.path
    parsed = read_manifest(manifest_path(path, dbt_project.manifest, DEFAULT_TARGET))
    assets = ProjectAssets(parsed, conn_id, schema)
    unique_id = _unique_id(parsed, node, path.name)
    asset = assets.asset(unique_id)
    if asset is None:
        raise DbtSparkOperatorError(f"dbt node {node!r} of {path.name} writes no relation (ephemeral?)")
    return asset


def _unique_id(manifest: Manifest, node: str, project_name: str) -> str:
    if node.startswith("source:"):
        wanted = node.removeprefix("source:")
        for unique_id, source in manifest.sources.items():
            if f"{source.source_name}.{source.name}" == wanted:
                return unique_id
        raise DbtSparkOperatorError(f"dbt project {project_name} has no source {wanted!r}")
    matches = sorted(
        unique_id
        for unique_id, n in manifest.nodes.items()
        if n.name == node and n.resource_type in PRODUCERS
    )
    own = [m for m in matches if m.split(".")[1] == (manifest.metadata.project_name or project_name)]
    if len(own or matches) == 1:
        return (own or matches)[0]
    if not matches:
        raise DbtSparkOperatorError(f"dbt project {project_name} has no seed, model or snapshot {node!r}")
    raise DbtSparkOperatorError(
        f"dbt node name {node!r} is ambiguous in {project_name}: {', '.join(matches)}"
    )


# --- when the task runs ---------------------------------------------------------------------------


def event_extra(run_results: Mapping[str, Any] | None, unique_id: str) -> dict[str, Any]:
    """What dbt reported for ``unique_id`` in ``run_results.json``: status, execution time, rows
    affected (where the adapter reports them), the relation written, the invocation id."""
    if not run_results:
        return {"dbt_unique_id": unique_id}
    result = next((r for r in run_results.get("results", []) if r.get("unique_id") == unique_id), None)
    extra: dict[str, Any] = {
        "dbt_unique_id": unique_id,
        "dbt_invocation_id": (run_results.get("metadata") or {}).get("invocation_id"),
    }
    if result is None:
        return extra
    extra["status"] = result.get("status")
    extra["execution_time"] = result.get("execution_time")
    if result.get("relation_name"):
        extra["relation"] = str(result["relation_name"]).replace("`", "")
    rows = (result.get("adapter_response") or {}).get("rows_affected")
    if rows is not None:
        extra["rows_affected"] = rows
    return extra


def keep_run_results(project_dir: str, context: Any = None, **_: Any) -> None:
    """Cosmos local operators' ``callback``: keep the run's ``run_results.json`` on the task (Cosmos
    deletes its temporary project directory after the run)."""
    if context is None:
        return
    path = Path(project_dir) / "target" / "run_results.json"
    if not path.is_file():
        log.warning("dbt left no %s: the asset event carries no dbt figures", path)
    task = dbt_task.require_dbt_task(context["task"])
    task.dbt_pod_result = json.loads(path.read_text()) if path.is_file() else None


@dataclass(frozen=True)
class AssetEventsAtEnd:
    """``post_execute`` of every task of a task group: the node's asset event gets what dbt reported;
    then the user's own hook, if any. Airflow records the event only when the task succeeds."""

    then: Callable[..., Any] | None = None

    def __call__(self, context: Any, result: Any = None) -> None:
        task = context["task"]
        dbt = dbt_task.dbt_task_of(task)
        outlets = [o for o in task.outlets or [] if isinstance(o, Asset)]  # not a user's alias
        if dbt is not None and dbt.dbt_unique_id is not None and outlets:
            extra = event_extra(dbt.dbt_pod_result, dbt.dbt_unique_id)
            for asset in outlets:
                context["outlet_events"][asset].extra.update(extra)
                written = extra.get("relation")
                declared = ".".join(asset.uri.split("/")[3:])
                if written and written != declared:
                    log.warning(
                        "dbt wrote %s but the task's asset names %s: set profile_args={'schema': ...} "
                        "to the connection's schema",
                        written,
                        declared,
                    )
        if self.then is not None:
            self.then(context, result)
