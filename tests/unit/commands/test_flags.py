"""The flag table, checked against dbt itself, and every operator x flag: the argv or the parse-time error."""

from __future__ import annotations

from datetime import datetime

import kubernetes_validate
import pytest
import yaml
from airflow.sdk import DAG

from dbt_spark_operator import DbtSparkOperatorError
from dbt_spark_operator.commands.flags import COMMAND_FLAGS, FLAGS, argv
from dbt_spark_operator.commands.operators import OPERATORS, DbtSparkRunOperator, DbtSparkTestOperator
from dbt_spark_operator.runtime.rendered_pod import pod_body, render_pod, task_context
from helpers import K8S_VERSION

# A value for each flag, as a user would pass it.
VALUES = {
    "select": ["simple_pipeline"],
    "exclude": "stg_employees",
    "selector": "nightly",
    "vars": {"day": 1},
    "threads": 4,
    "full_refresh": True,
    "store_failures": True,
    "empty": True,
    "fail_fast": True,
    "warn_error": True,
}


def dbt_click_options(command: str) -> set[str]:
    from dbt.cli.main import cli

    group = cli
    for word in command.split():
        group = group.commands[word]
    return {option for param in group.params for option in param.opts}


@pytest.mark.parametrize("command", sorted(COMMAND_FLAGS))
def test_table_matches_dbt_itself(command):
    options = dbt_click_options(command)
    for name, flag in FLAGS.items():
        assert (name in COMMAND_FLAGS[command]) == (flag.option in options), (command, flag.option)


def operator(cls, **kwargs):
    with DAG("flags", schedule=None, start_date=datetime(2025, 1, 1)):
        return cls(task_id="t", project=kwargs.pop("project", "analytics"), execution="kubernetes", **kwargs)


@pytest.mark.parametrize("cls", OPERATORS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_each_operator_and_flag(cls, flag):
    if flag in COMMAND_FLAGS[cls.command]:
        task = operator(cls, **{flag: VALUES[flag]})
        flags = task.add_cmd_flags()
        assert FLAGS[flag].option in flags
        assert flags == argv(cls.command, {flag: VALUES[flag]})
        task.build_kube_args(task_context(task), flags)
        assert task.arguments[: 1 + len(cls.command.split())] == ["dbt", *cls.command.split()]
        assert FLAGS[flag].option in task.arguments
    else:
        with pytest.raises(
            DbtSparkOperatorError, match=f"dbt {cls.command} does not accept {FLAGS[flag].option}"
        ):
            operator(cls, **{flag: VALUES[flag]})


@pytest.mark.parametrize(
    ("cls", "flag"),
    [
        (c, f)
        for c, f in [
            ("DbtSparkDepsOperator", "threads"),
            ("DbtSparkDebugOperator", "threads"),
            ("DbtSparkTestOperator", "full_refresh"),
            ("DbtSparkSnapshotOperator", "full_refresh"),
        ]
    ],
)
def test_the_write_up_mistakes_fail_at_parse(cls, flag):
    import dbt_spark_operator

    with pytest.raises(DbtSparkOperatorError, match=f"does not accept {FLAGS[flag].option}"):
        operator(getattr(dbt_spark_operator, cls), **{flag: VALUES[flag]})


def test_every_operator_pod_validates_strictly():
    for cls in OPERATORS:
        manifest = pod_body(render_pod(operator(cls), dry_run=True))
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        names = [c["name"] for c in manifest["spec"]["containers"]]
        assert names == ["base", "airflow-xcom-sidecar"]  # the summary comes back through XCom


@pytest.mark.parametrize(
    "value",
    [
        {"quote": 'it\'s "quoted"', "colon": "a: b", "newline": "one\ntwo", "date": "2025-01-01", "n": 3},
        "quote: \"it's\"\ncolon: 'a: b'\nn: 3",
        '{"json": [1, 2], "nested": {"k": "v: w"}}',
    ],
    ids=["dict", "yaml", "json"],
)
def test_vars_reach_dbt_as_valid_yaml(value):
    task = operator(DbtSparkRunOperator, vars=value)
    flags = task.add_cmd_flags()
    passed = yaml.safe_load(flags[flags.index("--vars") + 1])
    assert passed == (value if isinstance(value, dict) else yaml.safe_load(value))


def test_templated_vars_are_rendered_then_passed():
    task = operator(
        DbtSparkRunOperator, vars={"day": "{{ ds }}", "note": "run: {{ ds }}"}, select="{{ params.m }}"
    )
    context = {**task_context(task), "params": {"m": "simple_pipeline"}}
    task.render_template_fields(context)
    flags = task.add_cmd_flags()
    assert yaml.safe_load(flags[flags.index("--vars") + 1]) == {
        "day": "2025-01-01",
        "note": "run: 2025-01-01",
    }
    assert flags[flags.index("--select") + 1] == "simple_pipeline"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vars": "day: [1, 2"}, "vars is not valid YAML"),
        ({"vars": "- a\n- b"}, "vars must be a mapping of names to values, got list"),
        ({"dbt_vars": {"d": 1}}, "unknown operator argument 'dbt_vars'"),
        ({"models": "a", "select": "b"}, "give models or select, not both"),
    ],
)
def test_bad_operator_input_fails_at_parse(kwargs, message):
    with pytest.raises(DbtSparkOperatorError, match=message):
        operator(DbtSparkRunOperator, **kwargs)


def test_the_base_is_not_a_command():
    from dbt_spark_operator import DbtSparkOperator

    with pytest.raises(DbtSparkOperatorError, match="DbtSparkOperator names no dbt command"):
        operator(DbtSparkOperator)


def test_write_up_parameter_names():
    run = operator(DbtSparkRunOperator, models=["simple_pipeline", "department_summary"])
    assert run.add_cmd_flags() == ["--select", "simple_pipeline", "department_summary"]
    test = operator(
        DbtSparkTestOperator, select="simple_pipeline", dbt_flags=["--store-failures-as", "table"]
    )
    assert test.add_cmd_flags() == ["--select", "simple_pipeline", "--store-failures-as", "table"]


def test_the_nine_operators_are_one_list_the_package_exports():
    import dbt_spark_operator
    from dbt_spark_operator.commands import operators

    defined = {
        cls
        for cls in vars(operators).values()
        if isinstance(cls, type) and issubclass(cls, operators.DbtSparkOperator)
    }
    assert set(OPERATORS) == defined - {operators.DbtSparkOperator} and len(OPERATORS) == 9
    assert all(getattr(dbt_spark_operator, cls.__name__) is cls for cls in defined)
    assert {cls.__name__ for cls in defined} <= set(dbt_spark_operator.__all__)
