"""Property tests: whatever users put in vars, selectors and model names yields a valid argv and pod,
or one clear error; never a crash, never an invalid pod."""

from __future__ import annotations

import re
from datetime import datetime

import kubernetes_validate
import yaml
from airflow.sdk import DAG
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dbt_spark_operator import DbtSparkOperatorError, DbtSparkRunOperator
from dbt_spark_operator.pod.settings import label_value
from dbt_spark_operator.runtime.rendered_pod import pod_body, render_pod
from helpers import K8S_VERSION

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([a-z0-9]([-a-z0-9_.]*[a-z0-9])?)?$")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=8,
)


def run_operator(**kwargs) -> DbtSparkRunOperator:
    with DAG("props", schedule=None, start_date=datetime(2025, 1, 1)):
        return DbtSparkRunOperator(
            task_id=kwargs.pop("task_id", "run"), project="analytics", execution="kubernetes", **kwargs
        )


@SETTINGS
@given(st.dictionaries(st.text(min_size=1), json_values, min_size=1, max_size=5))
def test_any_vars_reach_dbt_unchanged(vars_):
    flags = run_operator(vars=vars_).add_cmd_flags()
    assert yaml.safe_load(flags[flags.index("--vars") + 1]) == vars_


@SETTINGS
@given(st.text(max_size=60))
@example("{{0")  # a template: not checked at parse, checked when the command is built
@example("0{{")
def test_any_vars_string_is_a_mapping_or_one_clear_error(text):
    try:
        task = run_operator(vars=text)
    except DbtSparkOperatorError as error:
        assert str(error).startswith("vars ") and "\n" not in str(error)
        return
    try:
        flags = task.add_cmd_flags()
    except DbtSparkOperatorError as error:  # only what looked like a template got past the parse check
        assert "{{" in text
        assert str(error).startswith("vars ") and "\n" not in str(error)
        return
    if "--vars" in flags:
        assert isinstance(yaml.safe_load(flags[flags.index("--vars") + 1]), dict)


@SETTINGS
@given(
    st.lists(
        st.text(
            # Not "{": arguments are Airflow templates, "{{ params.x }}" is meant to render.
            alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00{"),
            min_size=1,
            max_size=40,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_selectors_are_separate_arguments_in_a_valid_pod(selectors):
    try:
        manifest = pod_body(render_pod(run_operator(select=selectors)))
    except DbtSparkOperatorError as error:  # at parse: blank, or Airflow's rendering would rewrite it
        assert "control character" in str(error) and "\n" not in str(error)
        assert any(not s.strip() or any(ord(c) < 32 or 127 <= ord(c) < 160 for c in s) for s in selectors)
        return
    args = manifest["spec"]["containers"][0]["args"]
    start = args.index("--select") + 1
    assert args[start : start + len(selectors)] == selectors  # no shell: each one argument, verbatim
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


@SETTINGS
@given(st.text(min_size=1, max_size=120))
def test_any_model_name_becomes_a_valid_label(name):
    value = label_value(name)
    assert len(value) <= 63 and LABEL_VALUE.match(value)


@SETTINGS
@given(st.from_regex(r"[A-Za-z0-9_]{1,90}", fullmatch=True))
@example("_")  # no letter or digit: the provider alone would name the pod "-<suffix>"
def test_any_task_id_gets_a_valid_unique_pod_name(model):
    first, second = run_operator(task_id=model), run_operator(task_id=model)
    names = {render_pod(task).metadata.name for task in (first, second)}
    assert len(names) == 2  # a random suffix: two pods of one model never collide
    for name in names:
        assert len(name) <= 63 and DNS_LABEL.match(name), name
