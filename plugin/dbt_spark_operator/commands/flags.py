"""Which dbt command takes which flag (dbt-core 1.11): the one table every operator builds its argv from.

A flag a command rejects ("No such option") is an error when the DAG is parsed, naming flag and command.
``tests/unit/test_flags.py`` checks the table against dbt's own click commands.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from dbt_spark_operator.errors import DbtSparkOperatorError


@dataclass(frozen=True)
class Flag:
    option: str
    kind: str  # "list": one option, many values; "value": one value; "switch": present or not; "vars"


FLAGS: dict[str, Flag] = {
    "select": Flag("--select", "list"),
    "exclude": Flag("--exclude", "list"),
    "selector": Flag("--selector", "value"),
    "vars": Flag("--vars", "vars"),
    "threads": Flag("--threads", "value"),
    "full_refresh": Flag("--full-refresh", "switch"),
    "store_failures": Flag("--store-failures", "switch"),
    "empty": Flag("--empty", "switch"),
    "fail_fast": Flag("--fail-fast", "switch"),
    "warn_error": Flag("--warn-error", "switch"),
}

_GLOBAL = {"vars", "fail_fast", "warn_error"}  # every command takes them (--target goes with the profile)
_SELECTING = {"select", "exclude", "selector", "threads"} | _GLOBAL

# dbt-core 1.11, read off dbt/cli/main.py (see ../shared/reference/dbt-1.11-command-flags.md).
COMMAND_FLAGS: dict[str, frozenset[str]] = {
    "run": frozenset(_SELECTING | {"full_refresh", "empty"}),
    "test": frozenset(_SELECTING | {"store_failures"}),
    "seed": frozenset(_SELECTING | {"full_refresh"}),
    "snapshot": frozenset(_SELECTING | {"empty"}),
    "compile": frozenset(_SELECTING | {"full_refresh", "empty"}),
    "deps": frozenset(_GLOBAL),
    "debug": frozenset(_GLOBAL),
    "docs generate": frozenset(_SELECTING),
    "source freshness": frozenset(_SELECTING),
}


def check_flags(command: str, values: Mapping[str, Any]) -> None:
    """Raise when a flag that is set (not None/False/empty) is one ``command`` rejects."""
    accepted = COMMAND_FLAGS[command]
    for name, value in values.items():
        if name not in FLAGS:
            raise DbtSparkOperatorError(f"unknown dbt flag {name!r}")
        if _is_set(value) and name not in accepted:
            raise DbtSparkOperatorError(f"dbt {command} does not accept {FLAGS[name].option} ({name}=...)")
        if _is_set(value) and FLAGS[name].kind == "list":
            for item in _items(value):
                # Airflow renders arguments as templates, which rewrites line breaks; dbt takes none.
                if not item.strip() or any(unicodedata.category(c) == "Cc" for c in item):
                    raise DbtSparkOperatorError(
                        f"{name} item {item!r} is empty or has a control character (a line break?)"
                    )


def _items(value: str | Sequence[Any]) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def vars_mapping(value: Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    """``vars`` as a dict, from a dict or a YAML/JSON string; invalid YAML or a non-mapping is an error."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0]
            raise DbtSparkOperatorError(f"vars is not valid YAML: {first}") from None
    if not isinstance(value, Mapping):
        raise DbtSparkOperatorError(f"vars must be a mapping of names to values, got {type(value).__name__}")
    return dict(value)


def vars_yaml(values: Mapping[str, Any] | None) -> str:
    """``vars`` as one line of YAML that loads back (as dbt loads it) to exactly ``values``.

    Written by YAML's own safe dumper, not json.dumps: JSON's ``1e-05`` reads back as a string in YAML
    1.1, and JSON's surrogate-pair escapes do not join into one character in YAML. Everything beyond
    ASCII is escaped: raw, YAML would read some characters (NEL, line separators) as line breaks.
    """
    text = yaml.safe_dump(
        _plain(values), default_flow_style=True, allow_unicode=False, width=2**31, sort_keys=True
    )
    return text.strip().removesuffix("\n...").strip()


def _plain(value: Any) -> Any:
    """Values YAML's safe dumper takes: containers as dict/list, anything unknown as its string."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return str(value)


def argv(command: str, values: Mapping[str, Any]) -> list[str]:
    """The flags part of a dbt command line, in table order."""
    check_flags(command, values)
    args: list[str] = []
    for name, flag in FLAGS.items():
        value = values.get(name)
        if not _is_set(value):
            continue
        if flag.kind == "switch":
            args.append(flag.option)
        elif flag.kind == "list":
            args += [flag.option, *_items(value)]  # type: ignore[arg-type]  # set: str or a sequence
        elif flag.kind == "vars":
            args += [flag.option, vars_yaml(vars_mapping(value))]
        else:
            args += [flag.option, str(value)]
    return args


def _is_set(value: Any) -> bool:
    if value is None or value is False:
        return False
    return not (isinstance(value, (str, Sequence, Mapping)) and len(value) == 0)
