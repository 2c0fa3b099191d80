"""The project's ``target/manifest.json`` at DAG parse: where it is, and the few fields this package
reads from it, typed (msgspec decodes only those: a fifth of ``json.loads``'s time for 2,000 nodes)."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

import msgspec

from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.project.paths import write_manifest

log = logging.getLogger(__name__)


def manifest_path(project: Path, manifest: str | os.PathLike[str] | None, target_name: str) -> Path:
    """``manifest`` if given, else the project's ``target/manifest.json``; when that is missing and the
    project is writable, ``dbt parse`` once (a warning: ship the manifest with the project)."""
    if manifest is not None:
        path = Path(manifest)
        if not path.is_file():
            raise DbtSparkOperatorError(
                f"dbt manifest {path} does not exist: run 'dbt-spark-operator manifest'"
            )
        return path
    path = project / "target" / "manifest.json"
    if not path.is_file():
        if not os.access(project, os.W_OK):  # a read-only projects volume or checkout
            raise DbtSparkOperatorError(
                f"dbt manifest {path} is missing and {project} is read-only: publish the project with "
                "its manifest ('dbt-spark-operator bundle') or pass manifest="
            )
        # Several DAG files of one project are parsed at once (the DAG processor's parallel parsers):
        # one dbt parse at a time, and the others take its manifest.
        path.parent.mkdir(exist_ok=True)
        with open(path.parent / ".manifest.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.is_file():
                log.warning("no manifest at %s: running dbt parse once (ship it with the project)", path)
                path = write_manifest(project, target_name)
    return path


class DependsOn(msgspec.Struct, frozen=True):
    nodes: list[str] = []


class ManifestNode(msgspec.Struct):
    """The fields of a manifest node the task graph and its assets need; msgspec skips the rest."""

    resource_type: str
    name: str
    database: str | None = None
    schema: str = ""
    alias: str | None = None
    original_file_path: str = ""
    package_name: str | None = None
    tags: list[str] = []
    config: dict[str, Any] = {}
    fqn: list[str] = []
    depends_on: DependsOn = DependsOn()


class ManifestSource(msgspec.Struct):
    source_name: str
    name: str
    database: str | None = None
    schema: str = ""
    identifier: str | None = None


class ManifestMetadata(msgspec.Struct, frozen=True):
    project_name: str | None = None
    env: dict[str, str] = {}  # dbt's DBT_ENV_CUSTOM_ENV_* variables at parse, without the prefix


class Manifest(msgspec.Struct):
    nodes: dict[str, ManifestNode]
    sources: dict[str, ManifestSource] = {}
    metadata: ManifestMetadata = ManifestMetadata()


def read_manifest(path: Path) -> Manifest:
    """The manifest fields this module uses, typed: msgspec skips the rest (a fifth of json.loads's time
    for 2,000 nodes, bench/parse_bench.py)."""
    return msgspec.json.decode(path.read_bytes(), type=Manifest)
