"""The dbt-spark thrift profile for Apache Kyuubi from an Airflow connection (a Cosmos ProfileMapping).

Connection fields: host, port (10009), login (user), schema (``default``), password (LDAP/CUSTOM only).
Extras: ``auth``, ``kerberos_service_name``, ``use_ssl``, ``connect_retries`` (5), ``connect_timeout`` (60),
``retry_all`` (true), ``server_side_parameters`` (Kyuubi and Spark session settings). ``profile_args``
override any of them per DAG; ``server_side_parameters`` are merged key by key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cosmos.profiles.base import BaseProfileMapping

from dbt_spark_operator import compat
from dbt_spark_operator.connection.endpoint import endpoint_problem
from dbt_spark_operator.connection.provider import CONN_TYPE, DEFAULT_CONN_ID
from dbt_spark_operator.errors import DbtSparkOperatorError

CONNECTION_TYPES = (CONN_TYPE, "hiveserver2")
AUTH_MODES = ("NONE", "NOSASL", "LDAP", "CUSTOM", "KERBEROS")
PASSWORD_AUTH_MODES = ("LDAP", "CUSTOM")
DEFAULTS: dict[str, Any] = {
    "port": 10009,
    "schema": "default",
    "connect_retries": 5,
    "connect_timeout": 60,
    "retry_all": True,
}
_INTS = ("port", "connect_retries", "connect_timeout")
_BOOLS = ("use_ssl", "retry_all")


class KyuubiProfileMapping(BaseProfileMapping):
    """Maps a ``kyuubi`` (or ``hiveserver2``) Airflow connection to a dbt-spark ``method: thrift`` profile.

    :param conn_id: the Airflow connection, read when a task runs
    :param profile_args: profile values on top of the connection's, checked at once: known keys, their
        types, no password
    :param kwargs: Cosmos's ``ProfileMapping`` arguments (``disable_event_tracking``, ``dbt_config_vars``)
    """

    airflow_connection_type: str = CONN_TYPE
    dbt_profile_type: str = "spark"
    dbt_profile_method: str = "thrift"

    required_fields = ["host"]
    secret_fields = ["password"]
    airflow_param_mapping = {
        "host": "host",
        "port": "port",
        "user": "login",
        "schema": "schema",
        "password": "password",
        # Extras as the connection form stores them, or with the legacy extra__kyuubi__ prefix.
        **{
            name: [f"extra.{name}", f"extra__{CONN_TYPE}__{name}"]
            for name in (
                "auth",
                "kerberos_service_name",
                "use_ssl",
                "connect_retries",
                "connect_timeout",
                "retry_all",
                "server_side_parameters",
            )
        },
    }

    def __init__(
        self, conn_id: str = DEFAULT_CONN_ID, profile_args: dict[str, Any] | None = None, **kwargs: Any
    ):
        super().__init__(conn_id, profile_args, **kwargs)
        self.check_profile_args()

    def check_profile_args(self) -> None:
        """Check ``profile_args`` on their own (DAG parse: the connection is read only when a task runs)."""
        args = self.profile_args
        unknown = sorted(set(args) - set(self.airflow_param_mapping))
        if unknown:
            known = ", ".join(self.airflow_param_mapping)
            raise DbtSparkOperatorError(f"profile_args: unknown key {unknown[0]!r}; use one of {known}")
        if "password" in args:
            raise DbtSparkOperatorError(
                "profile_args must not hold the password (it would sit in the DAG file): "
                f"set it on the connection {self.conn_id!r}"
            )
        _check_types(
            {**DEFAULTS, **{k: v for k, v in args.items() if v is not None}},
            lambda problem: DbtSparkOperatorError(f"profile_args: {problem}"),
        )
        ssp = args.get("server_side_parameters")
        if ssp is not None and not isinstance(ssp, dict):
            raise DbtSparkOperatorError(
                f"profile_args: server_side_parameters must be a mapping, got {type(ssp).__name__}"
            )

    @property
    def conn(self) -> Any:
        try:
            return super().conn
        except Exception as exc:  # AirflowNotFoundException, or no metadata database to ask
            raise self._error(
                f"is not defined ({type(exc).__name__}): create it in the Airflow UI "
                f"(type Apache Kyuubi) or as AIRFLOW_CONN_{self.conn_id.upper()}"
            ) from None

    def can_claim_connection(self) -> bool:
        return self.conn.conn_type in CONNECTION_TYPES and bool(self.get_dbt_value("host"))

    def get_dbt_value(self, name: str) -> Any:
        """profile_args first, then the connection; unlike Cosmos, false and 0 are values, not gaps."""
        if self.profile_args.get(name) is not None:
            return self.profile_args[name]
        return self._from_connection(name)

    def _from_connection(self, name: str) -> Any:
        fields = self.airflow_param_mapping.get(name, [])
        for field in [fields] if isinstance(fields, str) else fields:
            value = compat.connection_field(self, field)
            if value not in (None, ""):
                return value
        return None

    @property
    def settings(self) -> dict[str, Any]:
        """The profile's values, validated, with the password as it is (never put this in a file)."""
        if self.conn.conn_type not in CONNECTION_TYPES:
            raise self._error(
                f"has type {self.conn.conn_type!r}; expected one of {', '.join(CONNECTION_TYPES)}"
            )
        values: dict[str, Any] = dict(DEFAULTS)
        for name in self.airflow_param_mapping:
            value = self.get_dbt_value(name)
            if value not in (None, ""):
                values[name] = value
        values["server_side_parameters"] = self._server_side_parameters()
        return self._validate(values)

    @property
    def profile(self) -> dict[str, Any]:
        """The dbt target: the password only as an ``env_var()`` reference to :meth:`password_env_var`."""
        values = self.settings
        if "password" in values:
            values["password"] = self.get_env_var_format("password")
        return {"type": self.dbt_profile_type, "method": self.dbt_profile_method, **values}

    @property
    def mock_profile(self) -> dict[str, Any]:
        """What Cosmos's ``dbt ls`` load renders with: a complete thrift target, no connection needed."""
        return {
            "type": self.dbt_profile_type,
            "method": self.dbt_profile_method,
            **DEFAULTS,
            "host": self.profile_args.get("host") or "mock_value",
        }

    @property
    def env_vars(self) -> dict[str, str]:
        """For local execution (Cosmos puts these in dbt's process env): the password, when there is one."""
        password = self.password
        return {self.password_env_var(): password} if password else {}

    def check_endpoint(self) -> None:
        """Before dbt connects: raise one line when the server refuses the login or does not speak TLS as
        ``use_ssl`` says (:func:`~dbt_spark_operator.connection.endpoint.endpoint_problem`); dbt
        would retry either for minutes. An unreachable server is not an error here: dbt's retries
        (``connect_retries``) are for that. Checked once per connection and process."""
        if self._endpoint_checked:
            return
        values = self.settings
        problem = endpoint_problem(
            values["host"],
            values["port"],
            auth=values.get("auth", "NONE"),
            user=values.get("user"),
            password=values.get("password"),
            use_ssl=bool(values.get("use_ssl")),
            timeout=min(values["connect_timeout"], 10),
        )
        if problem:
            raise self._error(f"{problem}; not retried")
        self._endpoint_checked = True

    _endpoint_checked = False

    @property
    def password(self) -> str | None:
        return self.settings.get("password")

    @classmethod
    def password_env_var(cls) -> str:
        name: str = cls.get_env_var_name("password")
        return name

    def _server_side_parameters(self) -> dict[str, str] | None:
        merged: dict[str, Any] = {}
        for source in (
            self._from_connection("server_side_parameters"),
            self.profile_args.get("server_side_parameters"),
        ):
            if isinstance(source, str) and source.strip():
                try:
                    source = json.loads(source)
                except json.JSONDecodeError:
                    raise self._error("extra server_side_parameters is not a JSON object") from None
            if source in (None, ""):
                continue
            if not isinstance(source, dict):
                raise self._error(f"server_side_parameters must be a mapping, got {type(source).__name__}")
            merged.update(source)
        return {str(k): str(v) for k, v in merged.items()} or None

    def _validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """The profile's values typed and free of contradictions, or one error naming the connection."""
        if not values.get("host"):
            raise self._error("has no host")
        _check_types(values, self._error)
        auth = values.get("auth", "NONE")
        if values.get("password") and auth not in PASSWORD_AUTH_MODES:
            raise self._error(
                f"has a password but auth is {auth}: use auth LDAP or CUSTOM, or remove the password"
            )
        if values.get("kerberos_service_name") and auth != "KERBEROS":
            raise self._error(f"has kerberos_service_name but auth is {auth}: use auth KERBEROS or remove it")
        if auth == "KERBEROS" and not values.get("kerberos_service_name"):
            raise self._error(
                "auth KERBEROS needs kerberos_service_name (the prefix of kyuubi.kinit.principal)"
            )
        if values.get("server_side_parameters") is None:
            values.pop("server_side_parameters", None)
        return values

    def _error(self, problem: str) -> DbtSparkOperatorError:
        return DbtSparkOperatorError(f"Kyuubi connection {self.conn_id!r} {problem}")


def _check_types(values: dict[str, Any], error: Callable[[str], Exception]) -> None:
    """Whole numbers, booleans and the auth mode of ``values``, normalised in place."""
    for name in _INTS:
        value = values[name]
        if isinstance(value, bool) or not str(value).strip().isdigit():
            raise error(f"{name} must be a whole number, got {value!r}")
        values[name] = int(value)
    if not 0 < values["port"] < 65536:
        raise error(f"port must be from 1 to 65535, got {values['port']}")
    for name in _BOOLS:
        if name in values:
            values[name] = _boolean(values[name], name, error)
    if "auth" in values:
        auth = str(values["auth"] or "NONE").upper()
        if auth not in AUTH_MODES:
            raise error(f"auth must be one of {', '.join(AUTH_MODES)}, got {values['auth']!r}")
        values["auth"] = auth


def _boolean(value: Any, name: str, error: Callable[[str], Exception]) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise error(f"{name} must be true or false, got {value!r}")
