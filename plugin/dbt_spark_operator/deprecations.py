"""Earlier names and defaults that still work: each warns once per call site, naming what replaces it.

Removed in the version named by :data:`REMOVED_IN`; until then behaviour is unchanged.
"""

from __future__ import annotations

import inspect
import os
import warnings
from pathlib import Path
from typing import Any, TypeVar

REMOVED_IN = "0.3.0"
DEMO_PROJECT = "analytics"  # the sample project's name, once the default of every entry point

_PACKAGE = str(Path(__file__).parent)
_AIRFLOW = os.sep + "airflow" + os.sep  # the operator metaclass wraps __init__
T = TypeVar("T")


def _caller_level() -> int:
    """``stacklevel`` of the first frame outside this package and Airflow: the user's DAG file."""
    frame = inspect.currentframe()
    level = 0  # this frame; 1 is ``warn``, which calls warnings.warn
    while (
        frame is not None
        and frame.f_back is not None
        and (frame.f_code.co_filename.startswith(_PACKAGE) or _AIRFLOW in frame.f_code.co_filename)
    ):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str) -> None:
    """A ``DeprecationWarning`` pointing at the user's line (Airflow shows those of a DAG file)."""
    warnings.warn(f"{message} (removed in {REMOVED_IN})", DeprecationWarning, stacklevel=_caller_level())


def renamed(where: str, old: str, new: str, old_value: T | None, new_value: T) -> T:
    """``new_value``, or ``old_value`` given under the earlier name ``old`` (with a warning)."""
    if old_value is None:
        return new_value
    warn(f"{where}: {old}= is now {new}=")
    return old_value


def project_or_demo(where: str, project: Any) -> Any:
    """``project``; when none is named, the sample project with a warning (it will be required)."""
    if project is not None:
        return project
    warn(f"{where}: name the dbt project (project=...); defaulting to {DEMO_PROJECT!r}")
    return DEMO_PROJECT
