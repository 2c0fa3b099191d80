"""The local engine's life cycle and its failures: one clear line, bounded time, nothing left running."""

from __future__ import annotations

import json
import os
import socket

import pytest

from dbt_spark_operator.dev.engine import EngineConfig, EngineError, LocalEngine, run_query
from helpers import BIN, cli, free_port, one_error_line


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_up_twice_down_keeps_data_and_leaves_nothing_running(tmp_path):
    env = {
        **os.environ,
        "DBT_SPARK_ENGINE_HOME": str(tmp_path / "engine"),
        "DBT_SPARK_LOCAL_PORT": str(free_port()),
    }
    port = int(env["DBT_SPARK_LOCAL_PORT"])
    first = cli("engine", "up", env=env)
    try:
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("engine started in ")
        pid = json.loads((tmp_path / "engine" / "engine.json").read_text())["pid"]
        again = cli("engine", "up", env=env)
        assert again.returncode == 0 and again.stdout.startswith(f"engine already running: pid {pid}")
        status = cli("engine", "status", env=env)
        assert status.returncode == 0 and f"thrift on 127.0.0.1:{port}" in status.stdout

        run_query("127.0.0.1", port, "CREATE TABLE kept (id INT) USING iceberg")
        run_query("127.0.0.1", port, "INSERT INTO kept VALUES (42)")
    finally:
        down = cli("engine", "down", env=env)
    assert down.returncode == 0 and down.stdout.startswith("engine stopped; data kept")
    assert _group_gone(pid)
    assert cli("engine", "status", env=env).returncode == 3
    assert cli("engine", "down", env=env).stdout.strip() == "engine was not running"

    restarted = cli("engine", "up", env=env)
    try:
        assert restarted.returncode == 0, restarted.stderr
        assert run_query("127.0.0.1", port, "SELECT id FROM kept") == [(42,)]
    finally:
        cli("engine", "down", env=env)


def test_java_missing_is_one_line(tmp_path):
    env = {**os.environ, "PATH": str(BIN), "DBT_SPARK_ENGINE_HOME": str(tmp_path)}
    env.pop("JAVA_HOME", None)
    line = one_error_line(cli("engine", "up", "--port", str(free_port()), env=env))
    assert line.startswith("dbt-spark-operator: error: Java not found: install Java 17")


def test_port_in_use_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "DBT_SPARK_ENGINE_HOME": str(tmp_path)}
        line = one_error_line(cli("engine", "up", "--port", str(port), env=env))
    assert f"port {port} on 127.0.0.1 is in use by another process" in line


def test_engine_that_dies_at_start_fails_fast_with_its_log(tmp_path):
    engine = LocalEngine(EngineConfig.from_env(home=tmp_path, port=free_port(), driver_memory="lots"))
    with pytest.raises(EngineError, match=r"engine failed \(exit \d+\): see .*engine\.log"):
        engine.up()
    assert not engine.status().running
    assert (tmp_path / "engine.log").stat().st_size > 0
