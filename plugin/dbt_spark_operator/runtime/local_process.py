"""A pod's command, args and env as a local process: how local execution runs the nine operators, and how
the tests prove a pod's command works without a cluster."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from kubernetes.client import models as k8s

from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.pod.settings import PROFILES_DIR, PROJECTS_MOUNT, SCRATCH_MOUNT, STATE_MOUNT, XCOM_DIR
from dbt_spark_operator.process_group import stop_group
from dbt_spark_operator.project.paths import projects_root, state_dir


def run_locally(
    pod: k8s.V1Pod,
    workdir: Path,
    secrets: Mapping[str, str],
    on_line: Callable[[str], None] = print,
    bin_dir: Path | None = None,
    on_start: Callable[[subprocess.Popen[str]], None] | None = None,
    project: Path | None = None,
) -> tuple[int, dict[str, str]]:
    """Run a pod's command, args and env as a local process; return its exit code and the env it had.

    Mounted paths map to local directories: the projects volume to the directory holding ``project`` (a
    project directory anywhere on this machine; without one, :func:`projects_root`), the shared
    state volume to :func:`state_dir`, the emptyDirs (and the XCom sidecar's directory, when the pod
    has the sidecar) to fresh directories under ``workdir``. The process
    gets the pod's env (Secret references resolved from ``secrets`` by variable name) and ``PATH``,
    nothing else; ``PATH`` starts with ``bin_dir`` (default: this Python's, where dbt is), as the image's
    would. It runs in its own process group (``on_start`` gets the process, for :func:`stop_group`), stopped
    with it when interrupted.
    """
    container = next(c for c in pod.spec.containers if c.name == "base")  # not the XCom sidecar
    scratch = workdir / "scratch"
    paths = {
        PROJECTS_MOUNT: str(project.parent if project is not None else projects_root()),
        STATE_MOUNT: str(state_dir()),
        PROFILES_DIR: str(workdir / "profiles"),
        SCRATCH_MOUNT: str(scratch),
        XCOM_DIR: str(workdir / "xcom"),  # where the sidecar would read return.json
    }
    if project is not None:
        paths[f"{PROJECTS_MOUNT}/{project.name}"] = str(project)

    mounts = re.compile("|".join(re.escape(m) for m in sorted(paths, key=len, reverse=True)) + r"(?![\w.-])")

    def local(text: str) -> str:  # one pass, so that a replaced path is never replaced again
        return mounts.sub(lambda match: paths[match.group(0)], text)

    bin_dir = bin_dir or Path(sys.executable).parent
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOME": str(workdir)}
    for var in container.env or []:
        if var.value_from is not None:
            if var.name not in secrets:
                raise DbtSparkOperatorError(f"no local value for the secret env var {var.name}")
            env[var.name] = secrets[var.name]
        else:
            env[var.name] = local(var.value or "")
    scratch.mkdir(parents=True, exist_ok=True)
    if any(c.name != "base" for c in pod.spec.containers):  # the pod has the XCom sidecar
        (workdir / "xcom").mkdir(exist_ok=True)
    proc = subprocess.Popen(
        [local(a) for a in container.command + container.args],
        env=env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    if on_start:
        on_start(proc)
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            on_line(line.rstrip("\n"))
        return proc.wait(), env
    finally:
        if proc.poll() is None:  # interrupted: stop the whole group, dbt included
            stop_group(proc.pid, proc=proc)
