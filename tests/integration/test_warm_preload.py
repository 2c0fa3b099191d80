"""A local task after the warm executor's preload: parsing its DAG and running dbt import nothing heavy
(tests/unit/runtime/test_warm_executor.py: the executor, and what parsing alone imports)."""

from __future__ import annotations

from helpers import task_process_imports


def test_after_preload_a_local_task_imports_nothing_heavy(tmp_path):
    assert task_process_imports("warm", tmp_path)["heavy"] == []
