"""Where dbt projects and profiles live, checked early with one clear error."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from dbt_spark_operator.errors import DbtSparkOperatorError

# A source checkout: <repo>/plugin/dbt_spark_operator/project/paths.py -> <repo>; None from a wheel.
_REPO = Path(__file__).resolve().parents[3]
CHECKOUT: Path | None = _REPO if (_REPO / "pyproject.toml").is_file() and (_REPO / "dbt").is_dir() else None


def projects_root() -> Path:
    """The directory holding dbt projects: ``DBT_SPARK_PROJECTS_DIR``, else ``dbt/`` of a source checkout.

    Installed from a wheel with the variable unset there is no such directory: one clear error.
    """
    configured = os.environ.get("DBT_SPARK_PROJECTS_DIR")
    if configured:
        return Path(configured)
    if CHECKOUT is None:
        raise DbtSparkOperatorError(
            "DBT_SPARK_PROJECTS_DIR is not set: set it to the directory holding your dbt projects,"
            " or name the project by its path"
        )
    return CHECKOUT / "dbt"


def state_dir() -> Path:
    """What tasks share locally (the pods' /opt/dbt/state): ``DBT_SPARK_STATE_DIR``, else ``.dbt-state/``
    of a source checkout, else ``dbt-spark-operator/`` under ``$XDG_STATE_HOME`` (``~/.local/state``)."""
    configured = os.environ.get("DBT_SPARK_STATE_DIR")
    if configured:
        return Path(configured)
    if CHECKOUT is not None:
        return CHECKOUT / ".dbt-state"
    xdg = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(xdg) / "dbt-spark-operator"


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


def project_profile_name(path: Path) -> str:
    """The profile a dbt project names in its dbt_project.yml (its own name when it names none)."""
    project_yml = yaml.safe_load((path / "dbt_project.yml").read_text()) or {}
    return str(project_yml.get("profile") or project_yml["name"])


DEFAULT_TARGET = "kyuubi"  # the dbt target the profiles name, unless a DAG names another (target_name=)
PARSE_SCHEMA = "default"
# Recorded in the manifest (metadata.env, without dbt's prefix): the target schema its node schemas derive
# from, so that a DAG naming another schema (profile_args) can derive the relations it writes.
PARSE_SCHEMA_ENV = "DBT_SPARK_PARSE_SCHEMA"


def parse_profile(profile_name: str, target_name: str) -> str:
    """A throw-away profiles.yml for ``dbt parse``: one thrift target under the project's own profile
    name. Parsing connects to nothing, so no real host, user or secret is needed (Cosmos renders a mock
    profile for the same reason)."""
    target = {"type": "spark", "method": "thrift", "host": "dbt-parse.invalid", "port": 10009}
    target["schema"] = PARSE_SCHEMA  # the connection's default schema
    return yaml.safe_dump({profile_name: {"target": target_name, "outputs": {target_name: target}}})


def write_manifest(project: str | os.PathLike[str], target_name: str = DEFAULT_TARGET) -> Path:
    """``dbt deps`` (when the project has packages) and ``dbt parse``: no connection, no JVM, no profile
    of the user's (a throw-away one with the project's profile name).

    Returns the path of the project's ``target/manifest.json``; packages go to :func:`packages_dir`.
    """
    path = project_dir(project)
    profile_name = project_profile_name(path)
    with tempfile.TemporaryDirectory(prefix="dbt-parse-profile-") as profiles:
        (Path(profiles) / "profiles.yml").write_text(parse_profile(profile_name, target_name))
        env = {
            **os.environ,
            "DBT_PROFILES_DIR": profiles,
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "DBT_PACKAGES_DIR": str(packages_dir(path.name)),
            f"DBT_ENV_CUSTOM_ENV_{PARSE_SCHEMA_ENV}": PARSE_SCHEMA,
        }
        env.pop("DBT_TARGET_PATH", None)  # the manifest goes to the project's own target/
        commands = [["deps"]] if _has_packages(path) else []
        target = ["--profile", profile_name, "--target", target_name, "--target-path", str(path / "target")]
        commands.append(["parse", *target])
        for command in commands:
            dbt = [str(Path(sys.executable).parent / "dbt"), *command, "--project-dir", str(path), "--quiet"]
            proc = subprocess.run(dbt, env=env, cwd=path, capture_output=True, text=True)
            if proc.returncode != 0:
                detail = [line for line in (proc.stdout + proc.stderr).strip().splitlines() if line.strip()]
                raise DbtSparkOperatorError(
                    f"dbt {command[0]} of {path} failed: {detail[-1] if detail else proc.returncode}"
                )
    return path / "target" / "manifest.json"


def _has_packages(path: Path) -> bool:
    """Whether the project declares packages (packages.yml, or dependencies.yml with packages)."""
    if (path / "packages.yml").is_file():
        return True
    dependencies = path / "dependencies.yml"
    return dependencies.is_file() and bool((yaml.safe_load(dependencies.read_text()) or {}).get("packages"))


# What a published project leaves out: dbt's build output (but target/manifest.json), logs, packages.
_NOT_PUBLISHED = ("logs", "dbt_packages", ".user.yml", "__pycache__", ".manifest.lock")


def bundle(source: Path, out: Path, target_name: str = DEFAULT_TARGET) -> list[Path]:
    """The projects volume's content: every file of the dbt projects under ``source`` (local packages
    included, so that their relative paths hold) into ``out``, each project (a dbt_project.yml naming a
    ``profile``) with a fresh ``target/manifest.json``. Returns the manifests written."""
    if not source.is_dir():
        raise DbtSparkOperatorError(f"dbt projects directory {source} does not exist")
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise DbtSparkOperatorError(f"bundle output {out} must be outside {source}")
    manifests = []
    for project_yml in sorted(source.glob("*/dbt_project.yml")):
        if (yaml.safe_load(project_yml.read_text()) or {}).get("profile"):
            manifests.append(write_manifest(project_yml.parent, target_name))
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        parts = relative.parts
        if path.is_dir() or any(part in _NOT_PUBLISHED for part in parts):
            continue
        if len(parts) > 2 and parts[1] == "target" and parts[2:] != ("manifest.json",):
            continue
        destination = out / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(path.read_bytes())
    return [out / m.relative_to(source) for m in manifests]
