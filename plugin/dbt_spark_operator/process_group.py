"""Stopping a process group: a local run of a pod's command (dbt under the pod script), the local
engine (its JVM and slapd), the Airflow services of ``make ui``. Each is started in a group of its own
(``start_new_session``) so that everything it started goes with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import Any

from dbt_spark_operator.errors import DbtSparkOperatorError


def stop_group(pgid: int, grace: float = 30.0, proc: subprocess.Popen[Any] | None = None) -> None:
    """SIGTERM the process group ``pgid``, SIGKILL what is left after ``grace`` seconds, and return once
    the group is gone; raise if it outlives SIGKILL by 10 s. ``proc``: the group's leader when it is our
    child (it is reaped through its ``Popen``, which keeps its exit code)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not group_alive(pgid, proc):
                return
            time.sleep(0.2)
    if group_alive(pgid, proc):
        raise DbtSparkOperatorError(f"process group {pgid} did not exit after SIGKILL")


def group_alive(pgid: int, proc: subprocess.Popen[Any] | None = None) -> bool:
    """Whether any process of the group runs (its leader reaped first if it has exited)."""
    if proc is not None:
        proc.poll()
    else:
        with contextlib.suppress(ChildProcessError):  # not our child: init reaps it
            os.waitpid(pgid, os.WNOHANG)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
