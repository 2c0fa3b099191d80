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
    """Run ``dbt parse`` (no connection, no JVM) and return the path of the project's manifest.json."""
    path = project_dir(project)
    env = {**os.environ, "DBT_PROFILES_DIR": str(profiles_dir()), "DO_NOT_TRACK": "1"}
    env.setdefault("DBT_TARGET", "local")
    dbt = Path(sys.executable).parent / "dbt"
    proc = subprocess.run(
        [str(dbt), "parse", "--project-dir", str(path), "--target-path", str(path / "target"), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        detail = (proc.stdout + proc.stderr).strip().splitlines()
        raise DbtSparkOperatorError(
            f"dbt parse of {path} failed: {detail[-1] if detail else proc.returncode}"
        )
    return path / "target" / "manifest.json"
