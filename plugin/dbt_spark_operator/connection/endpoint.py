"""What a Kyuubi thrift endpoint answers before dbt starts: does it speak TLS as the connection says, and
does it accept the login.

dbt-spark retries every connection error (``retry_all``) ``connect_retries`` times, ``connect_timeout``
seconds apart: five minutes per task with the profile's defaults. A refused login or a TLS mismatch does
not get better by waiting, and dbt reports both as a bare transport error ("TSocket read 0 bytes", "Could
not connect to any of ..."). One handshake here, at most ``timeout`` seconds, names the cause instead.
A server that cannot be reached at all is left to dbt and its retries.

:func:`check_endpoint` is what a task calls with its connection's :class:`Endpoint`, once per endpoint
and process.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field

from dbt_spark_operator import compat
from dbt_spark_operator.errors import DbtSparkOperatorError

# HiveServer2 and Kyuubi authenticate these with SASL PLAIN (NONE takes any name and password).
SASL_PLAIN_AUTH_MODES = ("NONE", "LDAP", "CUSTOM")


def speaks_tls(host: str, port: int, timeout: float) -> bool | None:
    """True when a TLS handshake with ``host:port`` succeeds, False when the server answers something
    else, None when it cannot be reached. The certificate is not verified (dbt-spark does not either)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, context.wrap_socket(raw):
            return True
    except ssl.SSLError:  # before OSError: SSLError is one
        return False
    except OSError:
        return None


def endpoint_problem(
    host: str,
    port: int,
    *,
    auth: str,
    user: str | None,
    password: str | None,
    use_ssl: bool,
    timeout: float,
) -> str | None:
    """One line naming why dbt could not work with this endpoint and should not retry, or None (it
    accepted, or it is unreachable: dbt's retries are for that). Kerberos and NOSASL logins are not
    tried here (no ticket to try with); the TLS check holds for them too."""
    where = f"{host}:{port}"
    if use_ssl:
        tls = speaks_tls(host, port, timeout)
        if tls is None:
            return None
        if not tls:
            return (
                f"use_ssl is set but the server at {where} does not speak TLS (the TLS handshake failed): "
                "remove use_ssl from the connection's extra or point it at the server's TLS port"
            )
    if auth not in SASL_PLAIN_AUTH_MODES:
        return None
    outcome, text = compat.thrift_plain_login(
        host, port, user or "dbt", password, use_ssl=use_ssl, timeout=timeout
    )
    if outcome == "refused":
        return f"login refused: authentication failed for user {user!r} (auth {auth}) at {where}: {text}"
    # A TLS server hangs up on a plain client, at once or while it still sends (then it reads as a
    # connection error): one TLS handshake tells.
    if outcome != "accepted" and not use_ssl and speaks_tls(host, port, timeout):
        return (
            f"the server at {where} speaks TLS and this connection does not: set "
            '"use_ssl": true in the connection\'s extra'
        )
    return None


@dataclass(frozen=True)
class Endpoint:
    """What the handshake needs of a validated connection (:meth:`KyuubiProfileMapping.settings
    <dbt_spark_operator.connection.profile.KyuubiProfileMapping.settings>`)."""

    host: str
    port: int
    auth: str
    user: str | None
    password: str | None = field(repr=False)
    use_ssl: bool
    timeout: float  # seconds, for each of the handshake's steps


_CHECKED: dict[Endpoint, str | None] = {}  # endpoint -> its problem (None: none), in this process


def check_endpoint(endpoint: Endpoint, conn_id: str) -> None:
    """Raise one line naming the connection when the server refuses the login or does not speak TLS as
    ``use_ssl`` says (:func:`endpoint_problem`). One handshake per endpoint (address, login and TLS) and
    process: a connection changed between runs is a new endpoint."""
    if endpoint not in _CHECKED:
        _CHECKED[endpoint] = endpoint_problem(
            endpoint.host,
            endpoint.port,
            auth=endpoint.auth,
            user=endpoint.user,
            password=endpoint.password,
            use_ssl=endpoint.use_ssl,
            timeout=endpoint.timeout,
        )
    problem = _CHECKED[endpoint]
    if problem:
        raise DbtSparkOperatorError(f"Kyuubi connection {conn_id!r} {problem}; not retried")
