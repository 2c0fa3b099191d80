"""What a DAG says about a dbt project and the profile of its tasks: :class:`DbtProject` and
:class:`KyuubiProfile`, frozen and checked when built (no connection read), taken by
:func:`~dbt_spark_operator.dbt_task_group`, :func:`~dbt_spark_operator.dbt_run_operation` and the nine
operators.

Their keyword fields are also taken flat (``conn_id=``, ``manifest=`` ...), as sugar: :func:`configs`
builds the objects from them, and :func:`flat_keywords` shows them in a signature. Each parameter is
declared once, as a field of its object.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from dbt_spark_operator import compat, deprecations
from dbt_spark_operator.connection.profile import KyuubiProfileMapping  # Airflow before .provider
from dbt_spark_operator.connection.provider import DEFAULT_CONN_ID
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.project.manifest import manifest_path
from dbt_spark_operator.project.paths import DEFAULT_TARGET, project_dir

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, init=False)
class DbtProject:
    """A dbt project: its directory, checked when built, and the manifest its task graph renders from.

    :param path: the project's name under ``DBT_SPARK_PROJECTS_DIR`` (in a source checkout, default
        ``dbt/``) or its directory, holding ``dbt_project.yml``; kept resolved
    :param manifest: a ``manifest.json`` to render from (default ``<path>/target/manifest.json``), read by
        :func:`~dbt_spark_operator.dbt_task_group` and :func:`~dbt_spark_operator.dbt_asset`
    """

    path: Path
    manifest: Path | None = field(default=None, kw_only=True)

    def __init__(
        self, path: str | os.PathLike[str], *, manifest: str | os.PathLike[str] | None = None
    ) -> None:
        if not isinstance(path, str | os.PathLike):
            raise DbtSparkOperatorError(
                f"DbtProject: path must be a project name or a directory, got {path!r}"
            )
        if manifest is not None and not isinstance(manifest, str | os.PathLike):
            raise DbtSparkOperatorError(f"DbtProject: manifest must be a path, got {manifest!r}")
        resolved = project_dir(path)
        object.__setattr__(self, "path", resolved)
        # A given manifest is checked, never parsed.
        checked = None if manifest is None else manifest_path(resolved, manifest, DEFAULT_TARGET)
        object.__setattr__(self, "manifest", checked)


@dataclass(frozen=True, kw_only=True)
class KyuubiProfile:
    """The dbt-spark thrift profile of a project's tasks, from an Airflow ``kyuubi`` connection read when
    a task runs (:class:`~dbt_spark_operator.KyuubiProfileMapping`). Checked when built, without the
    connection.

    :param conn_id: the Airflow connection (type kyuubi or hiveserver2)
    :param profile_name: the profile's name (default: the one ``dbt_project.yml`` names, else the
        project's name)
    :param target_name: the profile target's name
    :param profile_args: profile values on top of the connection's (``schema``,
        ``server_side_parameters`` ...; never the password), checked: known keys, types; kept as a copy
    """

    conn_id: str = DEFAULT_CONN_ID
    profile_name: str | None = None
    target_name: str = DEFAULT_TARGET
    profile_args: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("conn_id", "profile_name", "target_name"):
            value = getattr(self, name)
            if value is None and name == "profile_name":
                continue
            if not isinstance(value, str) or not value.strip():
                raise DbtSparkOperatorError(
                    f"KyuubiProfile: {name} must be a non-empty string, got {value!r}"
                )
        args = {} if self.profile_args is None else self.profile_args
        if not isinstance(args, Mapping):
            raise DbtSparkOperatorError(f"KyuubiProfile: profile_args must be a mapping, got {args!r}")
        object.__setattr__(self, "profile_args", dict(args))
        self.mapping()  # checks profile_args as the mapping does, without reading the connection

    def mapping(self) -> KyuubiProfileMapping:
        """A profile mapping of this profile (each caches the connection it reads, when a task runs)."""
        return KyuubiProfileMapping(self.conn_id, dict(self.profile_args))


def _keywords(cls: type) -> tuple[inspect.Parameter, ...]:
    """The keyword parameters of ``cls``'s constructor (None the default a factory makes)."""
    factories = {f.name for f in fields(cls) if f.default_factory is not MISSING}
    return tuple(
        p.replace(default=None) if p.name in factories else p
        for p in inspect.signature(cls).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    )


_PROJECT_KEYWORDS = _keywords(DbtProject)
_PROFILE_KEYWORDS = _keywords(KyuubiProfile)
FLAT_KEYWORDS = tuple(p.name for p in (*_PROJECT_KEYWORDS, *_PROFILE_KEYWORDS))
"""The flat keywords: the keyword parameters of :class:`DbtProject` and :class:`KyuubiProfile`."""


def _pop(
    where: str, keywords: dict[str, Any], flat: tuple[inspect.Parameter, ...], given: object | None
) -> dict[str, Any]:
    """The flat keywords of one object taken out of ``keywords`` (None is not given): an error when the
    object itself is ``given`` too."""
    values = {p.name: keywords.pop(p.name) for p in flat if p.name in keywords}
    values = {name: value for name, value in values.items() if value is not None}
    if values and given is not None:
        cls = type(given).__name__
        raise DbtSparkOperatorError(
            f"{where}: {', '.join(f'{name}=' for name in values)} given beside a {cls}: "
            f"pass {'them' if len(values) > 1 else 'it'} to the {cls}"
        )
    return values


def project_of(
    where: str, project: DbtProject | str | os.PathLike[str] | None, keywords: dict[str, Any]
) -> DbtProject:
    """``project`` as a :class:`DbtProject`, built with the flat ``manifest=`` taken out of ``keywords``
    when it is a name or a path; the sample project, with a warning, when it is None."""
    given = project if isinstance(project, DbtProject) else None
    values = _pop(where, keywords, _PROJECT_KEYWORDS, given)
    if given is not None:
        return given
    return DbtProject(deprecations.project_or_demo(where, project), **values)


def profile_of(where: str, profile: KyuubiProfile | None, keywords: dict[str, Any]) -> KyuubiProfile:
    """``profile``, or a :class:`KyuubiProfile` of the flat keywords taken out of ``keywords``."""
    if profile is not None and not isinstance(profile, KyuubiProfile):
        raise DbtSparkOperatorError(
            f"{where}: profile must be a KyuubiProfile(conn_id=..., ...), got {type(profile).__name__}"
        )
    values = _pop(where, keywords, _PROFILE_KEYWORDS, profile)
    return profile if profile is not None else KyuubiProfile(**values)


def configs(
    where: str,
    project: DbtProject | str | os.PathLike[str] | None,
    profile: KyuubiProfile | None,
    keywords: dict[str, Any],
) -> tuple[DbtProject, KyuubiProfile]:
    """The project and the profile of a call to ``where``, the flat keywords (:data:`FLAT_KEYWORDS`)
    taken out of ``keywords``, the call's ``**kwargs``: they build the objects not given, and one given
    beside its object is an error."""
    return project_of(where, project, keywords), profile_of(where, profile, keywords)


def flat_keywords(func: F) -> F:
    """``func``, whose ``**kwargs`` go through :func:`configs`, with the flat keywords in its signature
    (before ``**kwargs``): ``help()`` shows them, and Airflow fills an operator's arguments from
    ``default_args`` and checks those of ``partial()`` by it."""
    signature = inspect.signature(func)
    *named, rest = signature.parameters.values()
    if rest.kind is not inspect.Parameter.VAR_KEYWORD:
        raise TypeError(f"{func.__qualname__} takes no **kwargs for the flat keywords")
    parameters = [*named, *_PROJECT_KEYWORDS, *_PROFILE_KEYWORDS, rest]
    compat.state_signature(func, signature.replace(parameters=parameters))
    return func
