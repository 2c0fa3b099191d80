"""The code base stays ruff clean (lint and format)."""

from __future__ import annotations

import subprocess

import pytest

from conftest import BIN, ROOT


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff(args):
    proc = subprocess.run(
        [str(BIN / "ruff"), *args, "plugin", "dags", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
