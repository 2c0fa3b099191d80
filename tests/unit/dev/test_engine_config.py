"""The local engine's settings from the environment, checked before anything starts
(tests/integration/test_engine.py: its life cycle and failures)."""

from __future__ import annotations

import pytest

from dbt_spark_operator.dev.engine import EngineConfig, EngineError


def test_bad_port_value_is_rejected(monkeypatch):
    monkeypatch.setenv("DBT_SPARK_LOCAL_PORT", "ten")
    with pytest.raises(EngineError, match="port must be a number from 1 to 65535, got 'ten'"):
        EngineConfig.from_env()
