"""Earlier names and defaults still work, each with one DeprecationWarning pointing at the caller."""

from __future__ import annotations

from datetime import datetime

import pytest
from airflow.sdk import DAG

import dbt_spark_operator.project.paths as project_paths
from dbt_spark_operator import DbtSparkOperatorError, DbtSparkRunOperator, dbt_run_operation
from dbt_spark_operator.deprecations import REMOVED_IN


def _run(**kwargs):
    with DAG("deprecations", schedule=None, start_date=datetime(2025, 1, 1)):
        return DbtSparkRunOperator(task_id="run", execution="kubernetes", **kwargs)


def test_operator_target_is_target_name_with_a_warning_at_the_callers_line():
    with pytest.warns(
        DeprecationWarning, match=rf"target= is now target_name= \(removed in {REMOVED_IN}\)"
    ) as seen:
        task = _run(project="analytics", target="other")
    assert task.dbt_setup.profile.target_name == "other"
    assert seen[0].filename == __file__  # not a line of the package or of Airflow
    assert _run(project="analytics", target_name="other").dbt_setup.profile.target_name == "other"


def test_no_project_named_is_the_sample_project_with_a_warning():
    with pytest.warns(DeprecationWarning, match="name the dbt project"):
        task = _run()
    assert task.dbt_setup.project_name == "analytics"


def test_run_operation_keyword_arguments_are_operator_args_with_a_warning():
    with DAG("deprecations", schedule=None, start_date=datetime(2025, 1, 1)):
        with pytest.warns(DeprecationWarning, match=r"operator_args=\{\.\.\.\}"):
            old = dbt_run_operation("old", "grant_select", "analytics", execution="local", retries=4)
        new = dbt_run_operation(
            "new", "grant_select", "analytics", execution="local", operator_args={"retries": 4}
        )
    assert old.retries == new.retries == 4


def test_projects_by_name_need_a_projects_dir_when_not_in_a_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("DBT_SPARK_PROJECTS_DIR")
    monkeypatch.setattr(project_paths, "CHECKOUT", None)
    with pytest.raises(DbtSparkOperatorError, match="^DBT_SPARK_PROJECTS_DIR is not set: set it to"):
        project_paths.project_dir("analytics")
    (tmp_path / "dbt_project.yml").write_text("name: mine\n")
    assert project_paths.project_dir(tmp_path) == tmp_path.resolve()  # a path needs no projects dir
    monkeypatch.delenv("DBT_SPARK_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert project_paths.state_dir() == tmp_path / "state" / "dbt-spark-operator"


def test_the_warm_executors_dev_path_is_the_runtime_executor_with_a_warning():
    # airflow.cfg names the executor by path: [core] executor = dbt_spark_operator.dev.warm.WarmLocalExecutor
    import dbt_spark_operator.dev.warm as dev_warm
    from dbt_spark_operator.runtime.warm_executor import WarmLocalExecutor

    with pytest.warns(
        DeprecationWarning, match=r"use dbt_spark_operator\.runtime\.warm_executor\.WarmLocalExecutor"
    ):
        assert dev_warm.WarmLocalExecutor is WarmLocalExecutor
    with pytest.raises(AttributeError):
        dev_warm.preload  # noqa: B018 -- only the executor's path is kept
