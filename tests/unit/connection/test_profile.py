"""The Kyuubi profile mapping: every field from the connection, defaults, contradictions caught early."""

from __future__ import annotations

import pytest
import yaml

from dbt_spark_operator import DbtSparkOperatorError, KyuubiProfileMapping
from helpers import ROOT, kyuubi_connection

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
