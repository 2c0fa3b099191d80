"""The dbt-spark thrift profile for Apache Kyuubi from an Airflow connection (a Cosmos ProfileMapping).

Connection fields: host, port (10009), login (user), schema (``default``), password (LDAP/CUSTOM only).
Extras: ``auth``, ``kerberos_service_name``, ``use_ssl``, ``connect_retries`` (5), ``connect_timeout`` (60),
``retry_all`` (true), ``server_side_parameters`` (Kyuubi and Spark session settings). ``profile_args``
override any of them per DAG; ``server_side_parameters`` are merged key by key.

The mapping maps and validates; it talks to no server (:mod:`.endpoint` does). When a task runs,
:meth:`KyuubiProfileMapping.read` reads the connection once into a :class:`RenderedProfile`, the one value
every runtime hands dbt: a pod's env and Secret reference, or Cosmos's local operators through
:class:`RenderedProfileMapping`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from cosmos.profiles.base import BaseProfileMapping

from dbt_spark_operator import compat
from dbt_spark_operator.connection.endpoint import Endpoint
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
        return self._target(self.settings)

    def read(self, profile_name: str, target_name: str) -> RenderedProfile:
        """The connection read now (by a new mapping: never a connection an earlier task read), mapped,
        validated and rendered once: what a task run hands dbt. No server is asked
        (:func:`~dbt_spark_operator.connection.endpoint.check_endpoint` does that).

        :param profile_name: the dbt profile's name in the rendered YAML
        :param target_name: the profile target's name
        """
        reader = type(self)(
            self.conn_id,
            dict(self.profile_args),
            disable_event_tracking=self.disable_event_tracking,
            dbt_config_vars=self.dbt_config_vars,
        )
        values = reader.settings
        return RenderedProfile(
            conn_id=self.conn_id,
            profile_name=profile_name,
            target_name=target_name,
            yaml=reader._profile_file(profile_name, target_name, reader._target(dict(values))),
            endpoint=Endpoint(
                host=values["host"],
                port=values["port"],
                auth=values.get("auth", "NONE"),
                user=values.get("user"),
                password=values.get("password"),
                use_ssl=bool(values.get("use_ssl")),
                timeout=min(values["connect_timeout"], 10),
            ),
        )

    def get_profile_file_contents(
        self, profile_name: str, target_name: str = "cosmos_target", use_mock_values: bool = False
    ) -> str:
        """The ``profiles.yml`` of :attr:`profile` (or :attr:`mock_profile`), as Cosmos writes it."""
        target = self.mock_profile if use_mock_values else self.profile
        return self._profile_file(profile_name, target_name, target)

    def _profile_file(self, profile_name: str, target_name: str, target: dict[str, Any]) -> str:
        outputs = {target_name: {k: v for k, v in target.items() if v is not None}}
        contents: dict[str, Any] = {profile_name: {"target": target_name, "outputs": outputs}}
        if self.dbt_config_vars:
            contents[profile_name]["config"] = self.dbt_config_vars.as_dict()
        return str(yaml.dump(contents, indent=4))

    def _target(self, values: dict[str, Any]) -> dict[str, Any]:
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


@dataclass(frozen=True)
class RenderedProfile:
    """A Kyuubi connection as dbt gets it in one task run (:meth:`KyuubiProfileMapping.read`): the
    ``profiles.yml``, with the password only as an ``env_var()`` reference, and the password itself for
    dbt's process env or the pod's Secret (:attr:`secret_env`)."""

    conn_id: str
    profile_name: str
    target_name: str
    yaml: str  # the profiles.yml: no secret
    endpoint: Endpoint  # the validated address, login and TLS, the password included (not in its repr)

    @property
    def password(self) -> str | None:
        return self.endpoint.password

    @property
    def password_env_var(self) -> str | None:
        """The env var the profile's ``env_var()`` reads the password from; None without a password."""
        return KyuubiProfileMapping.password_env_var() if self.password else None

    @property
    def secret_env(self) -> dict[str, str]:
        """dbt's process env that the profile needs: the password by its variable, when there is one."""
        password, name = self.password, self.password_env_var
        return {name: password} if password and name else {}


class RenderedProfileMapping(BaseProfileMapping):
    """A :class:`RenderedProfile` as Cosmos's local operators take a profile: Cosmos writes its YAML to the
    ``profiles.yml`` dbt reads and puts :attr:`RenderedProfile.secret_env` only in dbt's process env. It
    reads no connection and renders nothing again.

    Not ``ProfileConfig(profiles_yml_filepath=...)``: for a profiles.yml of its user's, Cosmos 1.15 adds
    nothing to dbt's env (``ProfileConfig.ensure_profile``), so the password would have to ride on the
    operator's ``env``, a template field that Cosmos's local operators store in Airflow's database again
    after they ran (``overwrite_rtif_after_execution``), or in the worker's own environment."""

    airflow_connection_type = KyuubiProfileMapping.airflow_connection_type
    dbt_profile_type = KyuubiProfileMapping.dbt_profile_type
    dbt_profile_method = KyuubiProfileMapping.dbt_profile_method

    def __init__(self, rendered: RenderedProfile) -> None:
        super().__init__(rendered.conn_id)
        self.rendered = rendered

    @property
    def profile(self) -> dict[str, Any]:
        """The target (Cosmos hashes it to name its profile cache): a new dict each time, as Cosmos
        changes the one it gets."""
        rendered = self.rendered
        target: dict[str, Any] = yaml.safe_load(rendered.yaml)[rendered.profile_name]["outputs"][
            rendered.target_name
        ]
        return target

    def get_profile_file_contents(
        self, profile_name: str, target_name: str = "cosmos_target", use_mock_values: bool = False
    ) -> str:
        rendered = self.rendered
        if (profile_name, target_name) != (rendered.profile_name, rendered.target_name):
            raise DbtSparkOperatorError(
                f"the profile read for this task is {rendered.profile_name}.{rendered.target_name}, "
                f"not {profile_name}.{target_name}"
            )
        return rendered.yaml

    @property
    def env_vars(self) -> dict[str, str]:
        return self.rendered.secret_env


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
