"""The private APIs of dbt_spark_operator.compat that need a rendered project (the analytics manifest),
checked against the installed libraries (the rest: test_compat.py; those that need Airflow's metadata
database: tests/integration/test_compat_metadata.py)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from dbt_spark_operator import compat, dbt_task_group


def test_cosmos_converters_receive_the_keywords_compat_reads():
    """The per-test converter gets Cosmos's keyword arguments: the tasks it built select one test each."""
    with DAG("compat_converter", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group("analytics", execution="kubernetes", select=["stg_employees"])
    tests = [t for t in dag.tasks if compat.cosmos_node_config(t).get("resource_type") == "test"]
    assert tests, "compat.cosmos_test_task: Cosmos no longer calls the test converter"
    for task in tests:
        assert str(task.select).startswith("fqn:analytics."), "compat.cosmos_test_task: select not set"


def test_cosmos_keeps_the_node_in_extra_context():
    with DAG("compat_node", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group("analytics", execution="kubernetes", select=["simple_pipeline"])
    node = compat.cosmos_node_config(dag.task_dict["analytics.simple_pipeline.run"])
    assert node.get("unique_id") == "model.analytics.simple_pipeline", (
        "compat.cosmos_node_config: Cosmos no longer keeps extra_context['dbt_node_config']"
    )
    assert node.get("resource_type") == "model" and "config" in node
