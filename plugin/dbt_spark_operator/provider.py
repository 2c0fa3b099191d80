"""Airflow provider registration: the ``kyuubi`` connection type, with its form labelled for Kyuubi.

Airflow imports this while it loads its configuration: import nothing heavy (no Cosmos) here.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from airflow.sdk.bases.hook import BaseHook

DEFAULT_CONN_ID = "kyuubi_default"


class KyuubiHook(BaseHook):
    """A Kyuubi thrift connection for dbt-spark: dbt connects itself; this hook describes the form."""

    conn_name_attr = "kyuubi_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "kyuubi"
    hook_name = "Apache Kyuubi (dbt-spark thrift)"

    def __init__(self, kyuubi_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kyuubi_conn_id = kyuubi_conn_id

    def get_conn(self) -> Any:
        return self.get_connection(self.kyuubi_conn_id)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": [],
            "relabeling": {
                "host": "Kyuubi host (thrift binary frontend)",
                "port": "Thrift port",
                "login": "User",
                "schema": "Schema (dbt target schema)",
                "password": "Password (auth LDAP or CUSTOM only)",
            },
            "placeholders": {
                "host": "kyuubi-dbt.kyuubi.svc.cluster.local",
                "port": "10009",
                "login": "admin",
                "schema": "default",
                "extra": (
                    '{"auth": "NONE", "connect_retries": 5, "connect_timeout": 60, "retry_all": true, '
                    '"server_side_parameters": {"kyuubi.engine.share.level": "USER"}}'
                ),
            },
        }


def get_provider_info() -> dict[str, Any]:
    """Read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "dbt-spark-operator",
        "name": "dbt Spark operator (Kyuubi)",
        "description": "dbt on Spark through Apache Kyuubi as per-model Airflow tasks.",
        "versions": [version("dbt-spark-operator")],
        "connection-types": [
            {"connection-type": "kyuubi", "hook-class-name": "dbt_spark_operator.provider.KyuubiHook"}
        ],
    }
