"""Where dbt projects and profiles live, checked early with one clear error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dbt_spark_operator.errors import DbtSparkOperatorError

# A source checkout: <repo>/plugin/dbt_spark_operator/project.py -> <repo>
CHECKOUT = Path(__file__).resolve().parents[2]


def projects_root() -> Path:
    """The directory holding dbt projects: ``DBT_SPARK_PROJECTS_DIR``, else ``dbt/`` of this checkout."""
    return Path(os.environ.get("DBT_SPARK_PROJECTS_DIR") or CHECKOUT / "dbt")


def profiles_dir() -> Path:
    """The directory holding ``profiles.yml``: ``DBT_PROFILES_DIR``, else ``profiles/`` of this checkout."""
    return Path(os.environ.get("DBT_PROFILES_DIR") or CHECKOUT / "profiles")


def state_dir() -> Path:
    """What tasks share locally (the pods' /opt/dbt/state): ``DBT_SPARK_STATE_DIR``, else ``.dbt-state/``."""
    return Path(os.environ.get("DBT_SPARK_STATE_DIR") or CHECKOUT / ".dbt-state")


def packages_dir(project_name: str) -> Path:
    """Where ``dbt deps`` installs a project's packages for local runs (DBT_PACKAGES_DIR)."""
    return state_dir() / "packages" / project_name


def docs_dir(project_name: str) -> Path:
    """Where the docs task leaves a project's site (index.html, manifest.json, catalog.json)."""
    return state_dir() / "docs" / project_name


def project_dir(project: str | os.PathLike[str]) -> Path:
    """A dbt project directory, by name under :func:`projects_root` or by path, holding dbt_project.yml."""
    path = Path(project)
    if not path.is_absolute() and len(path.parts) == 1:
        path = projects_root() / path
    if not (path / "dbt_project.yml").is_file():
        reason = "no dbt_project.yml in it" if path.is_dir() else "no such directory"
        raise DbtSparkOperatorError(f"dbt project directory {path} is not usable: {reason}")
    return path.resolve()


def write_manifest(project: str | os.PathLike[str]) -> Path:
    """``dbt deps`` (when the project has packages) and ``dbt parse``: no connection, no JVM.

    Returns the path of the project's ``target/manifest.json``; packages go to :func:`packages_dir`.
    """
    path = project_dir(project)
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(profiles_dir()),
        "DO_NOT_TRACK": "1",
        "DBT_PACKAGES_DIR": str(packages_dir(path.name)),
    }
    env.setdefault("DBT_TARGET", "local")
    commands = [["deps"]] if (path / "packages.yml").is_file() else []
    commands.append(["parse", "--target-path", str(path / "target")])
    for command in commands:
        dbt = [str(Path(sys.executable).parent / "dbt"), *command, "--project-dir", str(path), "--quiet"]
        proc = subprocess.run(dbt, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            detail = (proc.stdout + proc.stderr).strip().splitlines()
            raise DbtSparkOperatorError(
                f"dbt {command[0]} of {path} failed: {detail[-1] if detail else proc.returncode}"
            )
    return path / "target" / "manifest.json"
