"""The assets of a task group's nodes: one naming scheme, the helper, the event's extra from dbt."""

from __future__ import annotations

from datetime import datetime

import pytest
from airflow.sdk import DAG, Asset
from airflow.sdk.execution_time.context import OutletEventAccessors

from dbt_spark_operator import DbtSparkOperatorError, dbt_asset
from dbt_spark_operator.graph.assets import AssetEventsAtEnd, ProjectAssets, event_extra, relation_uri
from dbt_spark_operator.graph.dbt_task import DbtTask
from dbt_spark_operator.project.manifest import (
    DependsOn,
    Manifest,
    ManifestMetadata,
    ManifestNode,
    ManifestSource,
)

PARSED_IN = ManifestMetadata(project_name="p", env={"DBT_SPARK_PARSE_SCHEMA": "default"})


def node(kind: str, name: str, schema: str = "default", parents=(), **config) -> ManifestNode:
    return ManifestNode(
        resource_type=kind,
        name=name,
        schema=schema,
        alias=name,
        config=config,
        depends_on=DependsOn(nodes=list(parents)),
    )


MANIFEST = Manifest(
    nodes={
        "seed.p.people": node("seed", "people"),
        "model.p.stg": node("model", "stg", parents=["seed.p.people", "source.p.raw.events"]),
        "model.p.eph": node("model", "eph", parents=["model.p.stg"], materialized="ephemeral"),
        "model.p.mart": node("model", "mart", schema="default_marts", parents=["model.p.eph"]),
        "model.p.own": node("model", "own", schema="finance", parents=["model.p.stg"]),
        "test.p.not_null_mart_id": node("test", "not_null_mart_id", parents=["model.p.mart"]),
    },
    sources={"source.p.raw.events": ManifestSource(source_name="raw", name="events", schema="raw")},
    metadata=PARSED_IN,
)


def test_naming_scheme_is_the_relation_under_the_connection():
    assets = ProjectAssets(MANIFEST, "warehouse")
    assert assets.asset("model.p.stg") == Asset(
        uri="kyuubi://warehouse/default/stg", name="kyuubi://warehouse/default/stg"
    )
    assert assets.asset("source.p.raw.events").uri == "kyuubi://warehouse/raw/events"
    assert assets.asset("model.p.eph") is None and assets.asset("test.p.not_null_mart_id") is None
    assert relation_uri("c", "s", "t", catalog="iceberg") == "kyuubi://c/iceberg/s/t"


def test_inlets_read_through_ephemeral_models():
    assets = ProjectAssets(MANIFEST, "warehouse")
    assert [a.uri for a in assets.inlets("model.p.mart")] == ["kyuubi://warehouse/default/stg"]
    assert [a.uri for a in assets.inlets("model.p.stg")] == [
        "kyuubi://warehouse/default/people",
        "kyuubi://warehouse/raw/events",
    ]


def test_the_dags_target_schema_replaces_the_one_parsed_with():
    assets = ProjectAssets(MANIFEST, "warehouse", schema="analytics")
    assert assets.asset("model.p.stg").uri == "kyuubi://warehouse/analytics/stg"
    assert assets.asset("model.p.mart").uri == "kyuubi://warehouse/analytics_marts/mart"  # dbt's default
    assert assets.asset("model.p.own").uri == "kyuubi://warehouse/finance/own"  # a schema of its own
    assert assets.asset("source.p.raw.events").uri == "kyuubi://warehouse/raw/events"
    unknown = Manifest(nodes=MANIFEST.nodes, sources=MANIFEST.sources)  # parsed elsewhere: left as it is
    assert (
        ProjectAssets(unknown, "warehouse", schema="analytics")
        .asset("model.p.stg")
        .uri.endswith("/default/stg")
    )


def test_dbt_asset_names_what_the_task_group_declares():
    from dbt_spark_operator import dbt_task_group

    with DAG("assets", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group("analytics", execution="local", conn_id="warehouse")
    outlets = {t.task_id: t.outlets for t in dag.tasks if t.outlets}
    assert outlets["analytics.simple_pipeline.run"] == [
        dbt_asset("analytics", "simple_pipeline", conn_id="warehouse")
    ]
    assert outlets["analytics.employees.seed"] == [dbt_asset("analytics", "employees", conn_id="warehouse")]
    assert not any(".test" in t or "not_null" in t for t in outlets)  # tests declare nothing
    source = dbt_asset("analytics", "source:raw.employee_events", conn_id="warehouse")
    assert dag.get_task("analytics.raw_employee_events.source").inlets == [source]
    assert source in dag.get_task("analytics.stg_employee_events.run").inlets


@pytest.mark.parametrize(
    ("node_name", "message"),
    [
        ("nope", "has no seed, model or snapshot 'nope'"),
        ("source:raw.nope", "has no source 'raw.nope'"),
        ("not_null_simple_pipeline_id", "has no seed, model or snapshot"),
    ],
)
def test_dbt_asset_of_an_unknown_node_is_one_clear_error(node_name, message):
    with pytest.raises(DbtSparkOperatorError, match=message):
        dbt_asset("analytics", node_name)


RUN_RESULTS = {
    "metadata": {"invocation_id": "0b9e"},
    "results": [
        {
            "unique_id": "model.p.stg",
            "status": "success",
            "execution_time": 1.25,
            "relation_name": "`default`.`stg`",
            "adapter_response": {"_message": "OK", "rows_affected": 3},
        }
    ],
}


def test_event_extra_is_what_dbt_reported_for_the_node():
    assert event_extra(RUN_RESULTS, "model.p.stg") == {
        "dbt_unique_id": "model.p.stg",
        "dbt_invocation_id": "0b9e",
        "status": "success",
        "execution_time": 1.25,
        "relation": "default.stg",
        "rows_affected": 3,
    }
    assert event_extra(None, "model.p.stg") == {"dbt_unique_id": "model.p.stg"}


class _Task(DbtTask):
    def __init__(self, outlets, unique_id, result):
        self.outlets, self.dbt_unique_id, self.dbt_pod_result = outlets, unique_id, result


def test_the_end_hook_puts_the_extra_on_the_tasks_event_then_calls_the_users_hook(caplog):
    asset = ProjectAssets(MANIFEST, "warehouse").asset("model.p.stg")
    events = OutletEventAccessors()
    seen = []
    AssetEventsAtEnd(lambda context, result: seen.append(result))(
        {"task": _Task([asset], "model.p.stg", RUN_RESULTS), "outlet_events": events}, "ret"
    )
    assert events[asset].extra["relation"] == "default.stg" and events[asset].extra["status"] == "success"
    assert seen == ["ret"]
    assert "dbt wrote" not in caplog.text
    elsewhere = ProjectAssets(MANIFEST, "warehouse", schema="analytics").asset("model.p.stg")
    AssetEventsAtEnd()({"task": _Task([elsewhere], "model.p.stg", RUN_RESULTS), "outlet_events": events})
    assert "dbt wrote default.stg but the task's asset names analytics.stg" in caplog.text
