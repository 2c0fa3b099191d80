"""dbt tests with names longer than Airflow's task ids take (tests/dbt_projects/long_names, parsed with
dbt): task ids within bounds, the same in every process."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG
from airflow.sdk.definitions._internal.dag_parsing_context import _airflow_parsing_context_manager

from dbt_spark_operator import dbt_task_group
from helpers import ROOT, task_settings

LONG_NAMES = ROOT / "tests" / "dbt_projects" / "long_names"
LONG_NAMES_DAG = """
from datetime import datetime
from airflow.sdk import DAG
from dbt_spark_operator import dbt_task_group
with DAG("long_names", schedule=None, start_date=datetime(2025, 1, 1)):
    dbt_task_group({project!r}, execution={execution!r})
"""


@pytest.mark.parametrize("execution", ["kubernetes", "local"])
def test_tests_of_any_name_length_render_with_the_same_ids_in_every_process(execution, tmp_path, airflow_db):
    """dbt names tests up to any length; Airflow takes 250 characters. Each test task's id stays within
    200 (name start and a digest), the same whatever the process rendered before (Cosmos would number
    long tests of several models ``detached_<n>_test`` from a process-wide counter), and a task process
    that renders only its node finds it; a test's ``meta.cosmos.operator_kwargs`` reach its task."""
    from dbt_spark_operator.project.paths import write_manifest

    manifest = json.loads(write_manifest(LONG_NAMES).read_text())
    long_tests = [
        n for n in manifest["nodes"].values() if n["resource_type"] == "test" and len(n["name"]) > 250
    ]
    assert len(long_tests) == 3
    (tmp_path / "long_names.py").write_text(
        LONG_NAMES_DAG.format(project=str(LONG_NAMES), execution=execution)
    )
    with DAG("before", schedule=None, start_date=datetime(2025, 1, 1)):  # renders long tests first
        dbt_task_group(LONG_NAMES, execution=execution)
    dag = DagBag(dag_folder=str(tmp_path)).dags["long_names"]
    again = DagBag(dag_folder=str(tmp_path)).dags["long_names"]
    assert sorted(dag.task_dict) == sorted(again.task_dict)
    assert all(len(task_id) <= 250 for task_id in dag.task_dict)
    tests = {t: task for t, task in dag.task_dict.items() if "not_null" in t or len(t) > 200}
    assert len(tests) == 4 and not [t for t in dag.task_dict if "detached_" in t]
    detached = sorted(t for t in tests if t.endswith("_test"))
    assert len(detached) == 2 and detached[0] != detached[1]  # same 200-character start, two digests
    for task_id in tests:
        with _airflow_parsing_context_manager(dag_id="long_names", task_id=task_id):
            narrowed = DagBag(dag_folder=str(tmp_path)).dags["long_names"]
        found = narrowed.task_dict[task_id]
        assert type(found) is type(dag.task_dict[task_id]), task_id
        assert task_settings(found) == task_settings(dag.task_dict[task_id]), task_id
    unique = next(
        task for t, task in tests.items() if t.startswith("long_names.accounts.accounts_id_is_unique")
    )
    assert (unique.retries, unique.pool) == (4, "ledger_checks")
    by_retries = sorted(tests[t].retries for t in detached)
    assert by_retries[-1] == 5 and by_retries[0] != 5
