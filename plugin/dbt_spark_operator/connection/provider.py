"""Airflow provider registration: the ``kyuubi`` connection type, its form labelled for Kyuubi.

Declarative (``ui-field-behaviour`` and ``conn-fields`` in the provider info), as Airflow 3.2+ wants.
Airflow imports this while it loads its configuration: import nothing heavy (no Cosmos) here.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from airflow.sdk.bases.hook import BaseHook

CONN_TYPE = "kyuubi"  # the Airflow connection type this provider registers
DEFAULT_CONN_ID = "kyuubi_default"


class KyuubiHook(BaseHook):
    """A Kyuubi thrift connection for dbt-spark: dbt connects itself; this hook names the type."""

    conn_name_attr = "kyuubi_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Apache Kyuubi (dbt-spark thrift)"

    def __init__(self, kyuubi_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kyuubi_conn_id = kyuubi_conn_id

    def get_conn(self) -> Any:
        return self.get_connection(self.kyuubi_conn_id)


def _field(label: str, kind: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": [kind, "null"], **schema}}


CONNECTION_TYPE = {
    "connection-type": CONN_TYPE,
    "hook-class-name": "dbt_spark_operator.connection.provider.KyuubiHook",
    "hook-name": KyuubiHook.hook_name,
    "ui-field-behaviour": {
        "hidden-fields": [],
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
        },
    },
    "conn-fields": {
        "auth": _field(
            "Authentication",
            "string",
            "Must match kyuubi.authentication (NONE by default).",
            enum=["NONE", "NOSASL", "LDAP", "CUSTOM", "KERBEROS"],
        ),
        "kerberos_service_name": _field(
            "Kerberos service name", "string", "With KERBEROS only: the prefix of kyuubi.kinit.principal."
        ),
        "use_ssl": _field("Use SSL", "boolean", "TLS to the thrift port (certificates not verified)."),
        "connect_retries": _field("Connect retries", "integer", "Default 5.", minimum=0),
        "connect_timeout": _field("Seconds between retries", "integer", "Default 60.", minimum=0),
        "retry_all": _field("Retry every error", "boolean", "Default true."),
        "server_side_parameters": _field(
            "Session settings (JSON)",
            "string",
            'Kyuubi and Spark settings, e.g. {"kyuubi.engine.share.level": "USER"}.',
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
        "connection-types": [CONNECTION_TYPE],
    }
