"""The files as a cluster delivers them: the DAGs from a read-only git-sync checkout (no target/, since
git ignores it), the dbt projects with their manifests on a read-only projects volume (what
``dbt-spark-operator bundle`` writes), no state volume. Every DAG must import there without writing.

Root ignores file modes, so the read-only mounts are real: read-only bind mounts in a private mount
namespace (``unshare -m``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import ROOT, cli, parse_dags

SAMPLE_DAGS = ["analytics_kubernetes", "sample_dbt_pipeline", "simple_model_test", "simple_model_watcher"]


@pytest.fixture(scope="module")
def delivered(tmp_path_factory) -> tuple[Path, Path]:
    """A checkout of what git tracks (as git-sync delivers it) and the projects volume's content."""
    base = tmp_path_factory.mktemp("delivered")
    checkout, projects = base / "repo", base / "projects"
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    assert not (checkout / "dbt" / "analytics" / "target").exists()  # git ignores it
    proc = cli("bundle", "--out", str(projects), "--source", str(ROOT / "dbt"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [str(projects / "analytics" / "target" / "manifest.json")]
    return checkout, projects


def parse_read_only(checkout: Path, projects_dir: Path, read_only: list[Path]) -> dict:
    """Parse ``checkout/dags`` in a private mount namespace where ``read_only`` are read-only mounts."""
    mounts = " && ".join(f"mount --bind {p} {p} && mount -o remount,bind,ro {p}" for p in read_only)
    probe = " && ".join(f"! touch {p}/.probe 2>/dev/null" for p in read_only)  # really read-only
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        DBT_SPARK_PROJECTS_DIR=str(projects_dir),
        DBT_SPARK_STATE_DIR="/nonexistent/dbt-state",  # no state volume
        DBT_SPARK_EXECUTION="kubernetes",
    )
    script = f'{mounts} && {probe} && exec "$0" "$@"'
    result = parse_dags([checkout / "dags"], env, wrapper=("unshare", "-m", "sh", "-c", script))
    return {"errors": result["errors"], "dags": sorted(result["dags"])}


def test_every_dag_imports_from_a_read_only_checkout_and_projects_volume(delivered):
    checkout, projects = delivered
    result = parse_read_only(checkout, projects, [checkout, projects])
    assert result == {"errors": {}, "dags": SAMPLE_DAGS}


def test_without_the_projects_volume_the_import_error_says_what_to_ship(delivered):
    """The git-sync checkout alone has no manifest: one line naming the fix, not a failed dbt deps."""
    checkout, _ = delivered
    result = parse_read_only(checkout, checkout / "dbt", [checkout])
    assert result["dags"] == [] and len(result["errors"]) == len(list((checkout / "dags").glob("*.py")))
    manifest = checkout / "dbt" / "analytics" / "target" / "manifest.json"
    for error in result["errors"].values():
        assert error == (
            f"dbt_spark_operator.errors.DbtSparkOperatorError: dbt manifest {manifest} is missing and "
            f"{checkout / 'dbt' / 'analytics'} is read-only: publish the project with its manifest "
            "('dbt-spark-operator bundle') or pass manifest="
        )
