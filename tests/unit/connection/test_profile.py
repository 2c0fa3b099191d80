"""The Kyuubi profile mapping: every field from the connection, defaults, contradictions caught early; no
network (the endpoint's probe, its one-line errors, once per endpoint); the profile read and rendered once
per task run, in every runtime."""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
from datetime import datetime

import pytest
import yaml
from airflow.sdk import DAG

from dbt_spark_operator import (
    DbtSparkDebugOperator,
    DbtSparkOperatorError,
    KyuubiProfileMapping,
    PodSettings,
    dbt_task_group,
)
from dbt_spark_operator.connection import endpoint
from dbt_spark_operator.connection.endpoint import Endpoint, check_endpoint
from dbt_spark_operator.connection.profile import RenderedProfileMapping
from dbt_spark_operator.runtime.rendered_pod import task_context
from helpers import ROOT, kyuubi_connection, one_shot_server

# The connection of the first version's write-up.
WRITE_UP = {
    "host": "kyuubi-dbt.kyuubi.svc.cluster.local",
    "port": 10009,
    "login": "admin",
    "schema": "default",
}


def mapping(monkeypatch, profile_args=None, conn_id="kyuubi_default", **fields) -> KyuubiProfileMapping:
    monkeypatch.setenv(*kyuubi_connection(conn_id, **fields))
    return KyuubiProfileMapping(conn_id, profile_args)


def test_write_up_connection_equals_the_kyuubi_target_of_profiles_yml(monkeypatch):
    target = yaml.safe_load((ROOT / "profiles" / "profiles.yml").read_text())["analytics"]["outputs"][
        "kyuubi"
    ]
    assert mapping(monkeypatch, **WRITE_UP).profile == target


def test_defaults_from_a_host_only_connection(monkeypatch):
    assert mapping(monkeypatch, host="kyuubi").profile == {
        "type": "spark",
        "method": "thrift",
        "host": "kyuubi",
        "port": 10009,
        "schema": "default",
        "connect_retries": 5,
        "connect_timeout": 60,
        "retry_all": True,
    }


def test_every_field_from_connection_and_extras(monkeypatch):
    extra = {
        "auth": "ldap",
        "use_ssl": "true",
        "connect_retries": "2",
        "connect_timeout": 7,
        "retry_all": False,
        "server_side_parameters": {"kyuubi.engine.share.level": "USER", "spark.sql.shuffle.partitions": 4},
    }
    profile = mapping(
        monkeypatch, host="k", port="10010", login="etl", schema="marts", password="pw", extra=extra
    ).profile
    assert profile == {
        "type": "spark",
        "method": "thrift",
        "host": "k",
        "port": 10010,
        "user": "etl",
        "schema": "marts",
        "auth": "LDAP",
        "password": "{{ env_var('COSMOS_CONN_KYUUBI_PASSWORD') }}",
        "use_ssl": True,
        "connect_retries": 2,
        "connect_timeout": 7,
        "retry_all": False,
        "server_side_parameters": {"kyuubi.engine.share.level": "USER", "spark.sql.shuffle.partitions": "4"},
    }


def test_profile_args_override_per_dag_and_merge_session_settings(monkeypatch):
    extra = {
        "server_side_parameters": {"kyuubi.engine.share.level": "USER", "spark.sql.defaultCatalog": "lake"}
    }
    args = {"schema": "staging", "server_side_parameters": {"kyuubi.engine.share.level": "CONNECTION"}}
    profile = mapping(monkeypatch, args, host="k", extra=extra).profile
    assert profile["schema"] == "staging"
    assert profile["server_side_parameters"] == {
        "kyuubi.engine.share.level": "CONNECTION",
        "spark.sql.defaultCatalog": "lake",
    }


def test_mock_profile_is_a_complete_target_for_cosmos_dbt_ls(monkeypatch):
    mock = mapping(monkeypatch, host="k").mock_profile
    assert {"type", "method", "host", "port", "schema"} <= set(mock)  # dbt-spark requires schema


def test_hiveserver2_connections_are_accepted(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HS2", '{"conn_type": "hiveserver2", "host": "hs2", "port": 10000}')
    m = KyuubiProfileMapping("hs2")
    assert m.can_claim_connection()
    assert m.profile["host"] == "hs2" and m.profile["port"] == 10000


def test_password_never_in_the_profile_file(monkeypatch):
    m = mapping(monkeypatch, host="k", password="s3cr3t-value", extra={"auth": "CUSTOM"})
    contents = m.get_profile_file_contents("analytics", "kyuubi")
    assert "s3cr3t-value" not in contents
    target = yaml.safe_load(contents)["analytics"]["outputs"]["kyuubi"]
    assert target["password"] == "{{ env_var('COSMOS_CONN_KYUUBI_PASSWORD') }}"
    assert m.password == "s3cr3t-value"
    assert m.env_vars == {"COSMOS_CONN_KYUUBI_PASSWORD": "s3cr3t-value"}  # a process env, never a file


def test_no_password_no_env(monkeypatch):
    assert mapping(monkeypatch, host="k").env_vars == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "k", "password": "pw"}, "has a password but auth is NONE: use auth LDAP or CUSTOM"),
        ({"host": "k", "password": "pw", "extra": {"auth": "NOSASL"}}, "has a password but auth is NOSASL"),
        (
            {"host": "k", "extra": {"kerberos_service_name": "hive"}},
            "has kerberos_service_name but auth is NONE",
        ),
        ({"host": "k", "extra": {"auth": "KERBEROS"}}, "auth KERBEROS needs kerberos_service_name"),
        (
            {"host": "k", "extra": {"auth": "PLAIN"}},
            "auth must be one of NONE, NOSASL, LDAP, CUSTOM, KERBEROS",
        ),
        (
            {"host": "k", "extra": {"connect_retries": "many"}},
            "connect_retries must be a whole number, got 'many'",
        ),
        (
            {"host": "k", "extra": {"retry_all": "sometimes"}},
            "retry_all must be true or false, got 'sometimes'",
        ),
        ({"host": "k", "extra": {"server_side_parameters": "{nope"}}, "server_side_parameters is not a JSON"),
        ({"port": 10009}, "has no host"),
    ],
)
def test_contradictions_are_one_line_errors(monkeypatch, fields, message):
    with pytest.raises(DbtSparkOperatorError) as error:
        _ = mapping(monkeypatch, **fields).profile
    assert message in str(error.value)
    assert str(error.value).startswith("Kyuubi connection 'kyuubi_default' ")
    assert "\n" not in str(error.value)


def test_port_that_is_not_a_number(monkeypatch):
    with pytest.raises(DbtSparkOperatorError, match="port must be a whole number, got 'ten-thousand'"):
        _ = mapping(monkeypatch, {"port": "ten-thousand"}, host="k").profile
    with pytest.raises(DbtSparkOperatorError, match="port must be from 1 to 65535, got 70000"):
        _ = mapping(monkeypatch, host="k", port=70000).profile


def test_missing_and_wrong_type_connections(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
    with pytest.raises(DbtSparkOperatorError, match="Kyuubi connection 'nope' is not defined"):
        _ = KyuubiProfileMapping("nope").profile
    monkeypatch.setenv("AIRFLOW_CONN_PG", '{"conn_type": "postgres", "host": "db"}')
    with pytest.raises(
        DbtSparkOperatorError, match="has type 'postgres'; expected one of kyuubi, hiveserver2"
    ):
        _ = KyuubiProfileMapping("pg").profile


def test_kyuubi_connection_type_is_registered_with_airflow():
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    # What the Airflow 3 UI's connection form reads.
    (meta,) = [h for h in HookMetaService.hook_meta_data() if h.connection_type == "kyuubi"]
    assert meta.hook_name == "Apache Kyuubi (dbt-spark thrift)"
    assert meta.standard_fields.host.title == "Kyuubi host (thrift binary frontend)"
    assert meta.standard_fields.password.title == "Password (auth LDAP or CUSTOM only)"
    assert meta.extra_fields["auth"]["schema"]["enum"] == ["NONE", "NOSASL", "LDAP", "CUSTOM", "KERBEROS"]


def test_extras_with_the_legacy_prefix_are_read(monkeypatch):
    profile = mapping(monkeypatch, host="k", extra={"extra__kyuubi__connect_retries": 9}).profile
    assert profile["connect_retries"] == 9


# --- the mapping maps and validates; the endpoint probe is the endpoint's; one read per task run -------

LDAP = {"host": "127.0.0.1", "port": 1, "login": "etl", "password": "Pw-0f-etl", "extra": {"auth": "LDAP"}}


@pytest.fixture
def no_network(monkeypatch):
    """Every socket refused: a test that passes with it opened none."""

    def refuse(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def fresh_probes(monkeypatch):
    """An empty record of probed endpoints (the process's record), restored after the test."""
    monkeypatch.setattr(endpoint, "_CHECKED", {})


def test_the_mapping_maps_and_validates_with_no_network(monkeypatch, no_network):
    m = mapping(monkeypatch, **{**LDAP, "extra": {"auth": "LDAP", "use_ssl": True}})
    assert m.profile["use_ssl"] is True and m.settings["password"] == "Pw-0f-etl"
    assert m.env_vars == {"COSMOS_CONN_KYUUBI_PASSWORD": "Pw-0f-etl"}
    rendered = m.read("analytics", "kyuubi")
    assert rendered.endpoint == Endpoint("127.0.0.1", 1, "LDAP", "etl", "Pw-0f-etl", use_ssl=True, timeout=10)
    assert not hasattr(m, "check_endpoint")
    with pytest.raises(DbtSparkOperatorError, match="has a password but auth is NONE"):
        mapping(monkeypatch, host="k", password="pw").read("analytics", "kyuubi")


def test_the_rendered_profile_holds_the_password_apart_from_its_yaml(monkeypatch):
    rendered = mapping(monkeypatch, **LDAP).read("analytics", "kyuubi")
    target = yaml.safe_load(rendered.yaml)["analytics"]["outputs"]["kyuubi"]
    assert target["password"] == "{{ env_var('COSMOS_CONN_KYUUBI_PASSWORD') }}"
    assert target["auth"] == "LDAP" and target["user"] == "etl"
    assert "Pw-0f-etl" not in rendered.yaml and "Pw-0f-etl" not in repr(rendered)
    assert rendered.secret_env == {"COSMOS_CONN_KYUUBI_PASSWORD": "Pw-0f-etl"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        rendered.yaml = ""  # type: ignore[misc]
    no_password = mapping(monkeypatch, host="k").read("analytics", "kyuubi")
    assert no_password.secret_env == {} and no_password.password_env_var is None


def test_each_read_reads_the_connection_as_it_is_then(monkeypatch):
    """The mapping lives as long as the DAG; a connection changed between two task runs is read anew."""
    m = mapping(monkeypatch, host="first")
    assert m.read("analytics", "kyuubi").endpoint.host == "first"
    monkeypatch.setenv(*kyuubi_connection(host="second"))
    assert m.read("analytics", "kyuubi").endpoint.host == "second"


def _endpoint(port: int, **changes) -> Endpoint:
    fields = {"auth": "LDAP", "user": "etl", "password": "Pw-0f-etl", "use_ssl": False, "timeout": 5}
    return Endpoint("127.0.0.1", port, **{**fields, **changes})


def test_the_probe_names_a_refused_login_in_one_line(fresh_probes):
    message = b"Error validating the login"
    port = one_shot_server(b"\x03" + struct.pack(">I", len(message)) + message)  # SASL status BAD
    with pytest.raises(DbtSparkOperatorError) as error:
        check_endpoint(_endpoint(port), "kyuubi_default")
    assert str(error.value) == (
        f"Kyuubi connection 'kyuubi_default' login refused: authentication failed for user 'etl' (auth LDAP) "
        f"at 127.0.0.1:{port}: Bad status: 3 (b'Error validating the login'); not retried"
    )


def test_the_probe_names_a_server_that_does_not_speak_tls_in_one_line(fresh_probes):
    port = one_shot_server(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(DbtSparkOperatorError) as error:
        check_endpoint(_endpoint(port, use_ssl=True), "warehouse")
    assert str(error.value) == (
        f"Kyuubi connection 'warehouse' use_ssl is set but the server at 127.0.0.1:{port} does not speak "
        "TLS (the TLS handshake failed): remove use_ssl from the connection's extra or point it at the "
        "server's TLS port; not retried"
    )


def test_the_probe_leaves_an_unreachable_server_to_dbt_s_retries(fresh_probes):
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    check_endpoint(_endpoint(port), "kyuubi_default")
    check_endpoint(_endpoint(port, use_ssl=True), "kyuubi_default")


def test_the_probe_runs_once_per_endpoint_and_process(monkeypatch, fresh_probes):
    asked: list[Endpoint] = []

    def problem(host, port, **login):
        asked.append(_endpoint(port, **login))
        return "login refused: no" if login["password"] == "wrong" else None

    monkeypatch.setattr(endpoint, "endpoint_problem", problem)
    for _ in range(3):
        check_endpoint(_endpoint(10009), "kyuubi_default")
    check_endpoint(_endpoint(10009, password="changed"), "kyuubi_default")  # the connection changed
    for _ in range(2):
        with pytest.raises(
            DbtSparkOperatorError, match=r"^Kyuubi connection 'c' login refused: no; not retried$"
        ):
            check_endpoint(_endpoint(10009, password="wrong"), "c")
    assert [e.password for e in asked] == ["Pw-0f-etl", "changed", "wrong"]


class _Counts:
    """How often the connection is read and the profile rendered (and the probe asked)."""

    def __init__(self, monkeypatch) -> None:
        from cosmos.profiles import base

        self.reads = self.renders = self.probes = 0
        get_connection = base.BaseHook.get_connection.__func__
        render = KyuubiProfileMapping._profile_file

        def read(cls, conn_id):
            self.reads += conn_id == "kyuubi_default"  # not the Kubernetes connection a pod's build reads
            return get_connection(cls, conn_id)

        def rendered(mapping, *args):
            self.renders += 1
            return render(mapping, *args)

        def probe(*args, **kwargs):
            self.probes += 1

        monkeypatch.setattr(base.BaseHook, "get_connection", classmethod(read))
        monkeypatch.setattr(KyuubiProfileMapping, "_profile_file", rendered)
        monkeypatch.setattr(endpoint, "check_endpoint", probe)  # as the task run calls it

    @property
    def once(self) -> bool:
        return (self.reads, self.renders, self.probes) == (1, 1, 1)


def _task_run(task, pre_execute: bool = True) -> dict:
    """A worker's start of ``task``: templates rendered, its pre_execute hook (the connection read)."""
    context = task_context(task)
    task.render_template_fields(context)
    if pre_execute:
        task.dbt_setup.at_run(context)
    return context


def test_a_local_task_run_reads_and_renders_the_profile_once_for_cosmos(monkeypatch):
    """Cosmos's local operator writes the profile the task run read and gives dbt, only in its process
    env, the password: it reads the connection and renders nothing again."""
    monkeypatch.setenv(*kyuubi_connection(**LDAP))
    with DAG("once_local", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group("analytics", execution="local")
    task = dag.task_dict["analytics.simple_pipeline.run"]
    counts = _Counts(monkeypatch)
    _task_run(task)
    assert isinstance(task.profile_config.profile_mapping, RenderedProfileMapping)
    with task.profile_config.ensure_profile() as (path, env):  # what Cosmos's run_command does
        written = path.read_text()
    assert yaml.safe_load(written)["analytics"]["outputs"]["kyuubi"]["auth"] == "LDAP"
    assert "Pw-0f-etl" not in written and env == {"COSMOS_CONN_KYUUBI_PASSWORD": "Pw-0f-etl"}
    assert counts.once, vars(counts)
    assert all("Pw-0f-etl" not in json.dumps(getattr(task, f), default=str) for f in task.template_fields)
    other = dag.task_dict["analytics.stg_employees.run"].profile_config
    assert type(other.profile_mapping) is KyuubiProfileMapping  # the DAG's, untouched by this run


def test_a_kubernetes_task_run_reads_and_renders_the_profile_once_for_its_pod(monkeypatch):
    monkeypatch.setenv(*kyuubi_connection(**LDAP))
    pod = PodSettings(password_secret=("kyuubi-credentials", "password"))
    with DAG("once_pods", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group("analytics", execution="kubernetes", pod=pod)
    task = dag.task_dict["analytics.simple_pipeline.run"]
    counts = _Counts(monkeypatch)
    _task_run(task)
    env = {e.name: e.value for e in task.env_vars}
    target = yaml.safe_load(env["DBT_SPARK_PROFILE_YAML"])["analytics"]["outputs"]["kyuubi"]
    assert target["password"] == "{{ env_var('COSMOS_CONN_KYUUBI_PASSWORD') }}"
    assert [(s.deploy_target, s.secret) for s in task.secrets] == [
        ("COSMOS_CONN_KYUUBI_PASSWORD", "kyuubi-credentials")
    ]
    assert counts.once, vars(counts)


def test_a_command_operator_s_local_process_gets_the_password_its_run_read(monkeypatch):
    import dbt_spark_operator.commands.operators as operators

    monkeypatch.setenv(*kyuubi_connection(**LDAP))
    ran = []
    monkeypatch.setattr(
        operators, "run_locally", lambda pod, workdir, secrets, *a, **k: ran.append(secrets) or (0, {})
    )
    with DAG("once_command", schedule=None, start_date=datetime(2025, 1, 1)):
        task = DbtSparkDebugOperator(task_id="debug", project="analytics", execution="local")
    counts = _Counts(monkeypatch)
    task.execute(_task_run(task, pre_execute=False))  # the nine operators read it in execute
    assert ran == [{"COSMOS_CONN_KYUUBI_PASSWORD": "Pw-0f-etl"}]
    env = task.build_pod_request_obj(task_context(task), dry_run=True).spec.containers[0].env
    assert "Pw-0f-etl" not in repr(env)
    assert counts.once, vars(counts)
