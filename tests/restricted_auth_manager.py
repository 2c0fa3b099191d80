"""Airflow's SimpleAuthManager, except that the user ``outsider`` may read no DAG: it stands for an auth
manager with per-DAG permissions (FAB, Keycloak) in the integration suite
(tests/integration/test_airflow_ui.py)."""

from __future__ import annotations

from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

OUTSIDER = "outsider"


class OutsiderAuthManager(SimpleAuthManager):
    """Every decision is SimpleAuthManager's, but no DAG for ``outsider``."""

    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        if user.get_name() == OUTSIDER:
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
