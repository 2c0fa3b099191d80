"""A secrets backend that is down: every look-up is written down (to ``$DOWN_SECRETS_LOG``) and raises
(tests/integration/test_connection_at_run.py)."""

from __future__ import annotations

import os

from airflow.secrets import BaseSecretsBackend


class DownSecretsBackend(BaseSecretsBackend):
    """Stands for a secrets backend that cannot be reached; the log shows whether anyone asked."""

    def _asked(self, what: str) -> None:
        with open(os.environ["DOWN_SECRETS_LOG"], "a") as log:
            log.write(what + "\n")
        raise RuntimeError(f"secrets backend down (asked for {what})")

    def get_conn_value(self, conn_id: str) -> str | None:
        self._asked(f"connection {conn_id}")

    def get_variable(self, key: str) -> str | None:
        self._asked(f"variable {key}")
