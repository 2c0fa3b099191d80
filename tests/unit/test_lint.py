"""The code base stays ruff clean (lint and format) and the package type-checks (mypy --strict, the
settings in pyproject.toml)."""

from __future__ import annotations

import subprocess

import pytest

from helpers import BIN, ROOT


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff(args):
    proc = subprocess.run(
        [str(BIN / "ruff"), *args, "plugin", "dags", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_on_the_package():
    proc = subprocess.run([str(BIN / "mypy")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success: no issues found" in proc.stdout
