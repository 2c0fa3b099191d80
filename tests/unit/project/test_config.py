"""DbtProject and KyuubiProfile: checked when built in one line, frozen, copyable; the flat keywords
build the same objects everywhere, and one given beside its object is an error."""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
import os
import pickle
from datetime import datetime

import pytest
from airflow.sdk import DAG

from dbt_spark_operator import (
    DbtProject,
    DbtSparkOperator,
    DbtSparkOperatorError,
    DbtSparkRunOperator,
    KyuubiProfile,
    KyuubiProfileMapping,
    dbt_asset,
    dbt_run_operation,
    dbt_task_group,
)
from dbt_spark_operator.graph import dbt_task
from dbt_spark_operator.project.config import FLAT_KEYWORDS
from helpers import PROJECT, ROOT, python_json

FLAT = {
    "conn_id": "warehouse",
    "profile_name": "analytics",
    "target_name": "other",
    "profile_args": {"schema": "marts", "server_side_parameters": {"spark.sql.shuffle.partitions": "4"}},
}
PROFILE = KyuubiProfile(**FLAT)


def _dag(dag_id: str = "config", **kwargs) -> DAG:
    return DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1), **kwargs)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: DbtProject("no_such_project"), "dbt project directory .*/no_such_project is not usable"),
        (lambda: DbtProject(3), "DbtProject: path must be a project name or a directory, got 3"),
        (lambda: DbtProject("analytics", manifest=["m.json"]), "DbtProject: manifest must be a path"),
        (lambda: DbtProject("analytics", manifest="/no/m.json"), "dbt manifest /no/m.json does not exist"),
        (lambda: KyuubiProfile(conn_id=""), "KyuubiProfile: conn_id must be a non-empty string, got ''"),
        (lambda: KyuubiProfile(target_name=None), "KyuubiProfile: target_name must be a non-empty string"),
        (lambda: KyuubiProfile(profile_name=" "), "KyuubiProfile: profile_name must be a non-empty string"),
        (lambda: KyuubiProfile(profile_args=["schema"]), "KyuubiProfile: profile_args must be a mapping"),
        (lambda: KyuubiProfile(profile_args={"hots": "h"}), "profile_args: unknown key 'hots'; use one of"),
        (lambda: KyuubiProfile(profile_args={"port": "x"}), "profile_args: port must be a whole number"),
        (lambda: KyuubiProfile(profile_args={"password": "pw"}), "profile_args must not hold the password"),
    ],
)
def test_a_bad_field_is_one_line_where_the_object_is_built(build, message):
    with pytest.raises(DbtSparkOperatorError, match=message) as error:
        build()
    assert "\n" not in str(error.value)


def test_the_objects_are_frozen_keyword_only_and_copy_as_airflow_copies_them():
    project = DbtProject(PROJECT, manifest=PROJECT / "target" / "manifest.json")
    assert project.path == PROJECT.resolve() and DbtProject("analytics") == DbtProject(PROJECT)
    with pytest.raises(TypeError):
        KyuubiProfile("warehouse")  # keyword-only
    with pytest.raises(TypeError):
        DbtProject(PROJECT, PROJECT / "target" / "manifest.json")  # the manifest is a keyword
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROFILE.conn_id = "other"
    for value in (project, PROFILE):
        assert pickle.loads(pickle.dumps(value)) == value
        assert copy.deepcopy(value) == value and hash(copy.deepcopy(value)) == hash(value)
    args = {"schema": "s"}
    profile = KyuubiProfile(profile_args=args)
    args["schema"] = "changed"
    assert profile.profile_args == {"schema": "s"}  # a copy
    assert KyuubiProfile(profile_args=None).profile_args == {}


def _setup_of(task):
    setup = dbt_task.require_dbt_task(task).require_setup()
    mapping = setup.mapping
    names = (setup.profile.profile_name, setup.profile.target_name)
    return setup.path, setup.project_name, mapping.conn_id, mapping.profile_args, names


def test_the_flat_keywords_build_the_same_objects_in_every_entry_point():
    with _dag():
        flat_group = dbt_task_group("analytics", group_id="flat", execution="local", **FLAT)
        typed_group = dbt_task_group(
            DbtProject("analytics"), group_id="typed", execution="local", profile=PROFILE
        )
        flat_op = DbtSparkRunOperator(task_id="flat_run", project="analytics", execution="kubernetes", **FLAT)
        typed_op = DbtSparkRunOperator(
            task_id="typed_run", project=DbtProject("analytics"), execution="kubernetes", profile=PROFILE
        )
        flat_macro = dbt_run_operation("flat_grant", "grant_select", "analytics", execution="local", **FLAT)
        typed_macro = dbt_run_operation(
            "typed_grant", "grant_select", DbtProject("analytics"), execution="local", profile=PROFILE
        )
    flat_task = flat_group.children["flat.simple_pipeline"].children["flat.simple_pipeline.run"]
    typed_task = typed_group.children["typed.simple_pipeline"].children["typed.simple_pipeline.run"]
    expected = (PROJECT.resolve(), "analytics", "warehouse", FLAT["profile_args"], ("analytics", "other"))
    for task in (flat_task, typed_task, flat_op, typed_op, flat_macro, typed_macro):
        assert _setup_of(task) == expected, task.task_id
    assert (
        flat_task.outlets
        == typed_task.outlets
        == [dbt_asset("analytics", "simple_pipeline", conn_id="warehouse", schema="marts")]
    )


def test_a_flat_keyword_beside_its_object_is_one_error():
    message = "{}: conn_id=, target_name= given beside a KyuubiProfile: pass them to the KyuubiProfile"
    with _dag():
        with pytest.raises(DbtSparkOperatorError, match=message.format("dbt_task_group")):
            dbt_task_group("analytics", profile=PROFILE, conn_id="x", target_name="t")
        with pytest.raises(DbtSparkOperatorError, match=message.format("dbt_run_operation")):
            dbt_run_operation(
                "grant", "grant_select", "analytics", profile=PROFILE, conn_id="x", target_name="t"
            )
        with pytest.raises(DbtSparkOperatorError, match=message.format("DbtSparkRunOperator")):
            DbtSparkRunOperator(
                task_id="run", project="analytics", profile=PROFILE, conn_id="x", target_name="t"
            )
        with pytest.raises(
            DbtSparkOperatorError,
            match="dbt_task_group: manifest= given beside a DbtProject: pass it to the DbtProject",
        ):
            dbt_task_group(DbtProject("analytics"), manifest=PROJECT / "target" / "manifest.json")
        with pytest.raises(DbtSparkOperatorError, match="^dbt_asset: manifest= given beside a DbtProject"):
            dbt_asset(
                DbtProject("analytics"), "simple_pipeline", manifest=PROJECT / "target" / "manifest.json"
            )
        with pytest.raises(
            DbtSparkOperatorError,
            match=r"^dbt_task_group: profile must be a KyuubiProfile\(.*\), got KyuubiProfileMapping$",
        ):
            dbt_task_group("analytics", profile=KyuubiProfileMapping())
        # None is a flat keyword not given.
        task = DbtSparkRunOperator(task_id="none", project="analytics", profile=PROFILE, conn_id=None)
    assert _setup_of(task)[2] == "warehouse"


def test_the_signatures_show_the_flat_keywords_and_airflow_fills_them_from_default_args():
    for entry in (dbt_task_group, dbt_run_operation, DbtSparkOperator.__init__):
        parameters = inspect.signature(entry).parameters
        assert {"project", "profile", *FLAT_KEYWORDS} <= set(parameters), entry
    assert set(FLAT_KEYWORDS) == {"manifest", "conn_id", "profile_name", "target_name", "profile_args"}
    with _dag(default_args={"conn_id": "warehouse"}):
        flat = DbtSparkRunOperator(task_id="flat", project="analytics", execution="kubernetes")
        mapped = DbtSparkRunOperator.partial(task_id="mapped", project="analytics", conn_id="w").expand(
            select=["simple_pipeline", "stg_employees"]
        )
    assert flat.dbt_setup.mapping.conn_id == "warehouse" and mapped.partial_kwargs["conn_id"] == "w"
    with _dag("typed", default_args={"project": DbtProject("analytics"), "profile": PROFILE}) as dag:
        typed = DbtSparkRunOperator(task_id="typed", execution="kubernetes")
    assert _setup_of(typed)[2:] == ("warehouse", FLAT["profile_args"], ("analytics", "other"))
    assert dag.default_args["profile"] == PROFILE  # Airflow keeps a deep copy


def test_the_objects_are_built_first_thing_in_a_fresh_interpreter():
    # Airflow's first import loads the package's provider module: nothing may import that module first.
    script = """
import json
from dbt_spark_operator import DbtProject, KyuubiProfile
print(json.dumps([DbtProject("analytics").path.name, KyuubiProfile().conn_id]))
"""
    assert python_json(script, env=dict(os.environ)) == ["analytics", "kyuubi_default"]


def test_kyuubi_is_named_once_for_each_of_its_three_meanings():
    # The default dbt target, the Airflow connection type and the asset URI scheme: one constant each.
    package = ROOT / "plugin" / "dbt_spark_operator"
    named = []
    for path in sorted(package.rglob("*.py")):
        if "dev" in path.relative_to(package).parts:
            continue  # development tooling writes connections of its own
        tree = ast.parse(path.read_text())
        constants = {n.value: n for n in ast.walk(tree) if isinstance(n, ast.Assign)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == "kyuubi":
                assigned = constants.get(node)
                where = assigned.targets[0].id if assigned else node.lineno
                named.append(f"{path.relative_to(package)}:{where}")
    assert sorted(named) == [
        "connection/provider.py:CONN_TYPE",
        "graph/assets.py:SCHEME",
        "project/paths.py:DEFAULT_TARGET",
    ]
