"""Each private or internal API that dbt_spark_operator.compat uses, checked against the installed
libraries: when an upstream release changes one, the failure names the compat function to revisit. And
the fence around compat.py: an analysis of the package's syntax trees finds any such use elsewhere."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import os
import socket
import struct
import textwrap
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG
from kubernetes.client import models as k8s

from dbt_spark_operator import compat
from helpers import ROOT, one_shot_server, python_json

# --- the compat fence: no other module of the package reaches into another library --------------------

PACKAGE = "dbt_spark_operator"
# Upstream modules and names that are internal though no underscore says so: Cosmos's graph building,
# Airflow's ORM models, API server internals, execution-time XCom, plugin loading.
INTERNAL_UPSTREAM = (
    "cosmos.airflow.graph",
    "cosmos.core.airflow",
    "airflow.models",
    "airflow.api_fastapi.app",
    "airflow.api_fastapi.core_api.security",
    "airflow.sdk.execution_time.xcom",
    "airflow.plugins_manager.ensure_plugins_loaded",
)
# Attribute names and string keys that reach into another library's objects: the operator
# ``extra_context`` key under which Cosmos keeps a task's dbt node, and ``__signature__`` (what
# ``inspect`` reports for another library's function).
INTERNAL_KEYS = ("dbt_node_config", "__signature__")
ATTRIBUTE_CALLS = {"getattr": False, "hasattr": False, "setattr": True, "delattr": True}
OBJECT_ATTRIBUTE_CALLS = {"__getattribute__": False, "__setattr__": True, "__delattr__": True}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _ours(qualified: str) -> bool:
    return qualified == PACKAGE or qualified.startswith(PACKAGE + ".")


def _internal(qualified: str) -> bool:
    return any(qualified == name or qualified.startswith(name + ".") for name in INTERNAL_UPSTREAM)


def _on_self(node: ast.Attribute) -> bool:
    return isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")


def _upstream_object(qualified: str) -> Any:
    module, _, name = qualified.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


@functools.cache
def _upstream_private_names(qualified: str) -> frozenset[str]:
    """The private attributes of an upstream class and its bases: what their bodies define and what their
    methods assign on ``self`` or ``cls``."""
    cls = _upstream_object(qualified)
    if not isinstance(cls, type):
        return frozenset()
    names: set[str] = set()
    for klass in inspect.getmro(cls):
        if klass is object or _ours(klass.__module__):
            continue
        names.update(name for name in vars(klass) if _private(name))
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):  # a class without Python source
            continue
        names.update(
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and _on_self(node)
            and _private(node.attr)
        )
    return frozenset(names)


class _Module:
    """One module of the package: its imports (local name -> qualified name), classes and the names it
    defines (module and class bodies, attributes its methods assign on ``self`` or ``cls``)."""

    def __init__(self, path: str, source: str) -> None:
        self.path = path
        parts = path.removesuffix(".py").split("/")
        self.name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        self.tree = ast.parse(source, path)
        self.imports: dict[str, str] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self.defined: set[str] = set()
        package = self.name if parts[-1] == "__init__" else self.name.rpartition(".")[0]
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.partition(".")[0]
                    self.imports[local] = alias.name if alias.asname else local
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.rsplit(".", node.level - 1)[0]
                    base = f"{parent}.{base}".rstrip(".")
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{base}.{alias.name}"
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _on_self(node):
                self.defined.add(node.attr)
        self._define(self.tree.body)

    def _define(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defined.add(stmt.name)
                if isinstance(stmt, ast.ClassDef):
                    self._define(stmt.body)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                self.defined.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
            elif isinstance(stmt, ast.If | ast.Try | ast.With):
                self._define(stmt.body)

    def qualified(self, node: ast.expr) -> str | None:
        """The qualified name of an imported name, or of an attribute chain on one."""
        if isinstance(node, ast.Name):
            return self.imports.get(node.id)
        if isinstance(node, ast.Attribute):
            owner = self.qualified(node.value)
            return f"{owner}.{node.attr}" if owner else None
        return None


class CompatFence:
    """The analysis :func:`test_no_module_but_compat_reaches_into_another_library` runs, over
    ``sources`` (path under ``plugin/``: source text)."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.modules = [_Module(path, text) for path, text in sorted(sources.items())]
        self.by_name = {module.name: module for module in self.modules}
        self.defined = set().union(*(module.defined for module in self.modules))
        # A class of ours with no upstream base may be mixed into any upstream class the package uses.
        self.any_upstream = frozenset().union(
            *(self.upstream(m, cls) for m in self.modules for cls in m.classes.values())
        )

    def upstream(self, module: _Module, cls: ast.ClassDef) -> frozenset[str]:
        """The private attributes of the upstream classes ``cls`` derives from (through ours too)."""
        names: set[str] = set()
        for base in cls.bases:
            if isinstance(base, ast.Name) and base.id in module.classes:
                names |= self.upstream(module, module.classes[base.id])
                continue
            qualified = module.qualified(base)
            if qualified is None:
                continue
            owner, _, name = qualified.rpartition(".")
            if not _ours(qualified):
                names |= _upstream_private_names(qualified)
            elif owner in self.by_name and name in self.by_name[owner].classes:
                names |= self.upstream(self.by_name[owner], self.by_name[owner].classes[name])
        return frozenset(names)

    def leaks(self, exempt: str = f"{PACKAGE}/compat.py") -> list[str]:
        """``path:line: what`` of every leak outside ``exempt``."""
        found = []
        for module in self.modules:
            if module.path != exempt:
                visitor = _Leaks(self, module)
                visitor.visit(module.tree)
                found += [f"{module.path}:{line}: {what}" for line, what in sorted(set(visitor.found))]
        return found


class _Leaks(ast.NodeVisitor):
    def __init__(self, fence: CompatFence, module: _Module) -> None:
        self.fence = fence
        self.module = module
        self.classes: list[ast.ClassDef] = []
        self.found: list[tuple[int, str]] = []

    def flag(self, node: ast.AST, what: str) -> None:
        self.found.append((getattr(node, "lineno", 0), what))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.classes.append(node)
        self.generic_visit(node)
        self.classes.pop()

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.imported(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if not node.level:
            for alias in node.names:
                self.imported(node, f"{node.module}.{alias.name}")

    def imported(self, node: ast.AST, qualified: str) -> None:
        if _ours(qualified):
            return
        if any(_private(part) for part in qualified.split(".")):
            self.flag(node, f"import of private {qualified}")
        elif _internal(qualified):
            self.flag(node, f"import of internal {qualified}")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and (node.value in INTERNAL_KEYS or _internal(node.value)):
            self.flag(node, f"internal upstream name {node.value!r}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.attribute(node, node.value, node.attr, isinstance(node.ctx, ast.Store | ast.Del))
        qualified = self.module.qualified(node)
        if qualified is not None and not _ours(qualified) and _internal(qualified):
            self.flag(node, f"internal upstream {qualified}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func, args = node.func, node.args
        if isinstance(func, ast.Name) and func.id in ATTRIBUTE_CALLS and len(args) >= 2:
            self.attribute_named(node, args[0], args[1], ATTRIBUTE_CALLS[func.id])
        elif isinstance(func, ast.Name) and func.id == "vars" and args:
            self.flag(node, "__dict__ access: vars()")
        elif isinstance(func, ast.Name) and func.id == "super" and args:
            owner = self.module.qualified(args[0])
            if owner is not None and not _ours(owner):
                self.flag(node, f"super() past upstream {owner}")
        elif isinstance(func, ast.Attribute):
            owner = self.module.qualified(func.value)
            if func.attr == "mro" and not args:
                self.flag(node, "__mro__ walking: mro()")
            elif self.module.qualified(func) == "inspect.getmro":
                self.flag(node, "__mro__ walking: inspect.getmro()")
            elif (
                isinstance(func.value, ast.Name)
                and func.value.id == "object"
                and func.attr in OBJECT_ATTRIBUTE_CALLS
                and len(args) >= 2
            ):
                self.attribute_named(node, args[0], args[1], OBJECT_ATTRIBUTE_CALLS[func.attr])
            elif (
                owner is not None
                and not _ours(owner)
                and args
                and isinstance(args[0], ast.Name)
                and args[0].id in ("self", "cls")
                and isinstance(_upstream_object(owner), type)
            ):
                self.flag(node, f"upstream method called unbound: {owner}.{func.attr}({args[0].id}, ...)")
        self.generic_visit(node)

    def attribute_named(self, node: ast.Call, value: ast.expr, name: ast.expr, store: bool) -> None:
        """``getattr(value, "name")`` and the like, with a literal name."""
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            self.attribute(node, value, name.value, store)

    def attribute(self, node: ast.AST, value: ast.expr, name: str, store: bool) -> None:
        if name == "__class__" and store:
            self.flag(node, "assignment to __class__")
        elif name == "__dict__":
            self.flag(node, "__dict__ access")
        elif name in ("__mro__", "__bases__"):
            self.flag(node, f"{name} walking")
        elif name in INTERNAL_KEYS:
            self.flag(node, f"internal upstream attribute {name}")
        elif _private(name) and (why := self.upstream_private(value, name)):
            self.flag(node, f"{why}: {ast.unparse(value)}.{name}")

    def upstream_private(self, value: ast.expr, name: str) -> str | None:
        """Why ``value.<name>`` (a private name) is another library's, or None when it is the package's."""
        qualified = self.module.qualified(value)
        if qualified is not None:  # a module or class imported by name
            if not _ours(qualified):
                return "private attribute of upstream"
            module = self.fence.by_name.get(qualified)
            return None if module is None or name in module.defined else "private attribute no module defines"
        if name not in self.fence.defined:
            return "private attribute no module of the package defines"
        mine = isinstance(value, ast.Name) and value.id in ("self", "cls") and self.classes
        held = self.fence.upstream(self.module, self.classes[-1]) if mine else frozenset()
        if name in (held or self.fence.any_upstream):
            return "private attribute an upstream class holds"
        return None


def test_no_module_but_compat_reaches_into_another_library():
    """Every module of the package but compat.py (dev/ included), by analysis of its syntax tree. Found:

    - ``x._name`` (a private name: one leading underscore, or a mangled ``__name``), written out or as
      the literal name of ``getattr``/``hasattr``/``setattr``/``delattr``/``object.__setattr__``, unless
      ``_name`` is the package's: some module or class body of the package defines it, or a method
      assigns it on ``self``/``cls``; and no upstream class holds it (defines it, or assigns it on
      ``self``/``cls`` in its source). On ``self``/``cls`` of a class with upstream bases, those bases
      (through the package's own classes) count; on any other receiver, and in a class without upstream
      bases (a mixin may be mixed into any of them), every upstream class the package derives from.
      A private attribute of an upstream module or class imported by name is never the package's;
    - any assignment to ``__class__``; any ``__dict__`` (``vars()`` too); ``__mro__``, ``__bases__``,
      ``mro()`` or ``inspect.getmro()``;
    - an upstream class's method called unbound on ``self``/``cls`` (``KubernetesPodOperator.execute(self,
      context)``), or ``super(<upstream class>, ...)``; ``super()`` is fine;
    - an import of a private upstream module or name, of an internal one (``INTERNAL_UPSTREAM``) or an
      attribute chain reaching one, and the names ``INTERNAL_KEYS`` as attributes or string keys.
    """
    root = ROOT / "plugin"
    sources = {path.relative_to(root).as_posix(): path.read_text() for path in (root / PACKAGE).rglob("*.py")}
    leaks = CompatFence(sources).leaks()
    assert leaks == [], "move it into dbt_spark_operator.compat:\n" + "\n".join(leaks)


# Each form the fence finds, outside compat.py; compat.py holds the same and is exempt.
LEAKY = """
import inspect
import cosmos.operators._k8s_common
from airflow import plugins_manager
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from cosmos.airflow.graph import create_test_task_metadata
from cosmos.operators._k8s_common import build_and_run_cmd
from cosmos.operators.local import DbtBuildLocalOperator
from kubernetes.client import ApiClient


class Producer(DbtBuildLocalOperator):
    def execute(self, context):
        self._dbt_runner_callbacks = [print]
        callbacks = getattr(self, "_dbt_runner_callbacks", None)
        self.__dict__.pop("pod_manager", None)
        for klass in type(self).__mro__:
            print(klass.mro(), inspect.getmro(klass), klass.__bases__, vars(klass))
        super(DbtBuildLocalOperator, self).execute(context)
        return KubernetesPodOperator.execute(self, context)


class Mixin:
    def run(self):
        self._dbt_runner_callbacks = []


def swap(task, cls):
    task.__class__ = cls
    setattr(task, "__class__", cls)
    object.__setattr__(task, "__class__", cls)
    task._upstream_only = 1
    plugins_manager.ensure_plugins_loaded()
    ApiClient()._ApiClient__deserialize({}, "V1Pod")
    return task.extra_context["dbt_node_config"], getattr(task, "__dict__")
"""

# The package's own private attributes, public upstream names and super() pass.
CLEAN = """
import json
from airflow.plugins_manager import AirflowPlugin
from cosmos.operators.local import DbtBuildLocalOperator

from dbt_spark_operator import compat


class Producer(DbtBuildLocalOperator):
    _cache: dict = {}

    def execute(self, context):
        self._publisher = object()
        object.__setattr__(self, "resources", None)
        print(json.dumps(self), self._cache, type(self).__name__, AirflowPlugin)
        return super().execute(context), self._keep()

    def _keep(self):
        return getattr(self, "_publisher", None), compat._POD_TASKS


def other(task):
    return task._publisher
"""


def test_the_compat_fence_finds_every_kind_of_leak():
    compat_py = LEAKY + "\n_POD_TASKS = {}\n"
    leaks = CompatFence(
        {"dbt_spark_operator/leaky.py": LEAKY, "dbt_spark_operator/compat.py": compat_py}
    ).leaks()
    assert all(leak.startswith("dbt_spark_operator/leaky.py:") for leak in leaks), leaks
    found = {leak.split(": ", 1)[1] for leak in leaks}
    assert found == {
        "import of private cosmos.operators._k8s_common",
        "import of private cosmos.operators._k8s_common.build_and_run_cmd",
        "import of internal cosmos.airflow.graph.create_test_task_metadata",
        "private attribute an upstream class holds: self._dbt_runner_callbacks",
        "__dict__ access",
        "__mro__ walking",
        "__mro__ walking: mro()",
        "__mro__ walking: inspect.getmro()",
        "__bases__ walking",
        "__dict__ access: vars()",
        "super() past upstream cosmos.operators.local.DbtBuildLocalOperator",
        "upstream method called unbound: "
        "airflow.providers.cncf.kubernetes.operators.pod.KubernetesPodOperator.execute(self, ...)",
        "assignment to __class__",
        "private attribute no module of the package defines: task._upstream_only",
        "internal upstream airflow.plugins_manager.ensure_plugins_loaded",
        "private attribute no module of the package defines: ApiClient()._ApiClient__deserialize",
        "internal upstream name 'dbt_node_config'",
    }, "\n".join(leaks)
    lines = LEAKY.splitlines()
    flagged = {lines[int(leak.split(":")[1]) - 1].strip() for leak in leaks}
    for form in (
        'callbacks = getattr(self, "_dbt_runner_callbacks", None)',
        "self._dbt_runner_callbacks = []",  # in a mixin: it may be mixed into DbtBuildLocalOperator
        'setattr(task, "__class__", cls)',
        'object.__setattr__(task, "__class__", cls)',
        'return task.extra_context["dbt_node_config"], getattr(task, "__dict__")',
    ):
        assert form in flagged, f"the compat fence missed: {form}"

    clean = CompatFence({"dbt_spark_operator/clean.py": CLEAN, "dbt_spark_operator/compat.py": compat_py})
    assert clean.leaks() == []


def test_cosmos_test_task_builder_takes_what_compat_passes():
    from cosmos.airflow.graph import create_test_task_metadata
    from cosmos.core.airflow import get_airflow_task

    params = set(inspect.signature(create_test_task_metadata).parameters)
    wanted = {"task_args", "on_warning_callback", "node", "render_config", "enable_owner_inheritance"}
    assert wanted <= params, f"compat.cosmos_test_task: create_test_task_metadata now takes {sorted(params)}"
    assert list(inspect.signature(get_airflow_task).parameters)[:3] == ["task", "dag", "task_group"], (
        "compat.cosmos_test_task: get_airflow_task(task, dag, task_group) changed"
    )
    assert "task.operator_class" in inspect.getsource(get_airflow_task), (
        "compat.cosmos_test_task: get_airflow_task no longer builds the class the metadata names"
    )


def test_cosmos_profile_mapping_reads_connection_fields(monkeypatch):
    from cosmos.profiles.base import BaseProfileMapping

    from dbt_spark_operator import KyuubiProfileMapping
    from helpers import kyuubi_connection

    assert hasattr(BaseProfileMapping, "_get_airflow_conn_field"), (
        "compat.connection_field: Cosmos's BaseProfileMapping._get_airflow_conn_field is gone"
    )
    monkeypatch.setenv(*kyuubi_connection(host="k", login="etl", extra={"use_ssl": False, "auth": "LDAP"}))
    mapping = KyuubiProfileMapping()
    assert compat.connection_field(mapping, "login") == "etl"
    assert compat.connection_field(mapping, "extra.use_ssl") is False  # false stays false


def test_inspect_returns_a_precomputed_signature():
    class Base:
        def __init__(self, a: int, *, b: str = "x") -> None: ...

    class Child(Base):
        def __init__(self, c: float, **kwargs: object) -> None: ...

    compat.precompute_init_signatures([Child])
    assert "__signature__" in Child.__init__.__dict__ and "__signature__" in Base.__init__.__dict__
    assert list(inspect.signature(Child.__init__).parameters) == ["self", "c", "kwargs"], (
        "compat.precompute_init_signatures: inspect.signature ignores __signature__"
    )


def test_airflow_takes_an_operators_arguments_by_its_stated_signature():
    from datetime import datetime

    from airflow.sdk import DAG, BaseOperator

    def with_b(init: Any) -> Any:
        signature = inspect.signature(init)
        *named, rest = signature.parameters.values()
        b = inspect.Parameter("b", inspect.Parameter.KEYWORD_ONLY, default=None)
        compat.state_signature(init, signature.replace(parameters=[*named, b, rest]))
        return init

    class Stated(BaseOperator):  # the metaclass reads __init__'s signature when it makes the class
        @with_b
        def __init__(self, *, a: int = 0, **kwargs: Any) -> None:
            self.b = kwargs.pop("b", None)
            super().__init__(**kwargs)

    with DAG("stated", schedule=None, start_date=datetime(2025, 1, 1), default_args={"b": 2}):
        assert Stated(task_id="t").b == 2, (
            "compat.state_signature: Airflow fills default_args by another means than inspect.signature"
        )
        Stated.partial(task_id="m", b=3).expand(a=[1, 2])  # a TypeError if partial() ignores it


def test_kubernetes_client_converts_api_dicts_to_models():
    from kubernetes.client import ApiClient

    assert hasattr(ApiClient(), "_ApiClient__deserialize"), (
        "compat.k8s_model_from_api_dict: the kubernetes client lost ApiClient.__deserialize"
    )
    volume = compat.k8s_model_from_api_dict(
        "V1Volume", {"name": "ca", "secret": {"secretName": "company-ca"}}
    )
    assert isinstance(volume, k8s.V1Volume) and isinstance(volume.secret, k8s.V1SecretVolumeSource)
    assert volume.secret.secret_name == "company-ca"


def test_airflow_internals_the_docs_page_and_the_warm_executor_use():
    from airflow.api_fastapi.core_api.security import get_user

    assert {"request", "_oauth_token", "bearer_credentials"} <= set(inspect.signature(get_user).parameters), (
        "compat.airflow_user: airflow.api_fastapi.core_api.security.get_user changed"
    )

    # Loading the plugin (every task process does) leaves Airflow's API security module unimported.
    loaded = python_json(
        "import json, sys, dbt_spark_operator.docs_plugin;"
        "print(json.dumps('airflow.api_fastapi.core_api.security' in sys.modules))",
        env=dict(os.environ),
    )
    assert loaded is False, "compat.airflow_user: import it on the first request, not at plugin load"

    assert inspect.iscoroutinefunction(compat.airflow_user)
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import BaseAuthManager

    assert callable(get_auth_manager), "compat.airflow_auth_manager: get_auth_manager is gone"
    assert {"dag_ids", "user", "method"} <= set(
        inspect.signature(BaseAuthManager.filter_authorized_dag_ids).parameters
    )
    from airflow import plugins_manager

    assert callable(plugins_manager.ensure_plugins_loaded), (
        "compat.load_airflow_plugins: plugins_manager.ensure_plugins_loaded is gone"
    )


def test_thrift_sasl_handshake_internals_compat_uses():
    from dbt.adapters.spark.connections import build_ssl_transport
    from thrift.transport.TSSLSocket import TSSLSocket

    transport = build_ssl_transport("127.0.0.1", 1, "etl", "LDAP", "", "pw")
    assert isinstance(getattr(transport, "_trans", None), TSSLSocket), (
        "compat.thrift_plain_login: thrift_sasl no longer keeps its socket in _trans"
    )
    # The three answers compat tells apart, from servers that give them (no engine needed).
    message = b"Error validating the login"
    refused = one_shot_server(b"\x03" + struct.pack(">I", len(message)) + message)  # SASL status BAD
    outcome, text = compat.thrift_plain_login("127.0.0.1", refused, "etl", "pw", use_ssl=False, timeout=5)
    assert (outcome, text) == ("refused", "Bad status: 3 (b'Error validating the login')"), (
        "compat.thrift_plain_login: a refused login reads differently now"
    )
    silent = one_shot_server(None)
    assert (
        compat.thrift_plain_login("127.0.0.1", silent, "etl", "pw", use_ssl=False, timeout=5)[0] == "closed"
    )
    with socket.create_server(("127.0.0.1", 0)) as unused:
        port = unused.getsockname()[1]
    assert (
        compat.thrift_plain_login("127.0.0.1", port, "etl", "pw", use_ssl=False, timeout=5)[0]
        == "unreachable"
    )


def test_cosmos_names_detached_tests_through_the_function_compat_swaps():
    import cosmos.airflow.graph as graph

    source = inspect.getsource(graph._add_test_tasks)
    assert "calculate_detached_node_name(node)" in source, (
        "compat.cosmos_detached_test_ids: Cosmos no longer names detached tests with "
        "calculate_detached_node_name(node)"
    )
    original = graph.calculate_detached_node_name
    with compat.cosmos_detached_test_ids(lambda node: "ours"):
        assert graph.calculate_detached_node_name(None) == "ours"
    assert graph.calculate_detached_node_name is original


def test_the_xcom_class_triggers_use_and_the_message_task_instances_would_send():
    """compat.trigger_xcom_get/set: the internal XCom class keeps get_one and set; and a trigger's task
    instance still cannot pull (its xcom_pull sends a message the triggerer does not serve)."""
    from airflow.jobs.triggerer_job_runner import ToTriggerSupervisor
    from airflow.sdk.execution_time.comms import GetXCom, GetXComSequenceSlice, SetXCom
    from airflow.sdk.execution_time.xcom import XCom

    assert {"key", "dag_id", "task_id", "run_id", "map_index"} <= set(
        inspect.signature(XCom.get_one).parameters
    )
    assert {"key", "value", "dag_id", "task_id", "run_id", "map_index"} <= set(
        inspect.signature(XCom.set).parameters
    )
    served = str(ToTriggerSupervisor)
    assert GetXCom.__name__ in served and SetXCom.__name__ in served, "the triggerer stopped serving XCom"
    assert GetXComSequenceSlice.__name__ not in served, (
        "the triggerer now serves xcom_pull: compat.trigger_xcom_get can use the task instance's xcom_pull"
    )


def test_cosmos_builds_each_node_s_task_of_the_class_compat_swaps_in():
    import cosmos.airflow.graph as graph
    from cosmos.constants import ExecutionMode
    from cosmos.core.airflow import get_airflow_task

    from dbt_spark_operator.errors import DbtSparkOperatorError
    from dbt_spark_operator.runtime import kubernetes_operators, local_operators
    from dbt_spark_operator.watcher import mirror, pod

    for builder in (graph.create_task_metadata, graph.create_test_task_metadata):
        assert "calculate_operator_class(" in inspect.getsource(builder), (
            f"compat.cosmos_operator_classes: Cosmos's {builder.__name__} no longer names the task's class "
            "with calculate_operator_class"
        )
    assert "task.operator_class" in inspect.getsource(get_airflow_task), (
        "compat.cosmos_operator_classes: get_airflow_task no longer builds the class the metadata names"
    )
    # Each class of the package replaces the operator Cosmos names for its dbt class: it extends it.
    for mode, classes in [
        (ExecutionMode.LOCAL, {**local_operators.NODE_OPERATORS, **mirror.MIRRORS}),
        (ExecutionMode.KUBERNETES, {**kubernetes_operators.NODE_OPERATORS, **pod.MIRRORS}),
    ]:
        for dbt_class, ours in classes.items():
            module, name = graph.calculate_operator_class(mode, dbt_class).rsplit(".", 1)
            cosmos_class = getattr(importlib.import_module(module), name, None)
            assert cosmos_class is not None and issubclass(ours, cosmos_class), (
                f"compat.cosmos_operator_classes: Cosmos names {module}.{name} for {dbt_class} "
                f"({mode.value}), which {ours.__qualname__} does not extend"
            )

    original = graph.calculate_operator_class
    with compat.cosmos_operator_classes(local_operators.NODE_OPERATORS):
        assert graph.calculate_operator_class(execution_mode=ExecutionMode.LOCAL, dbt_class="DbtRun") == (
            "dbt_spark_operator.runtime.local_operators.DbtRunLocalOperator"
        )
        with pytest.raises(DbtSparkOperatorError, match=r"cosmos\.operators\.local\.DbtBuildLocalOperator"):
            graph.calculate_operator_class(ExecutionMode.LOCAL, "DbtBuild")
    assert graph.calculate_operator_class is original


def test_an_operator_class_with_a_mixin_first_gets_back_the_init_airflow_wraps_again():
    from airflow.sdk import BaseOperator

    class Base(BaseOperator):
        def __init__(self, *, flavour: str = "plain", **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.flavour = flavour

    class Mixin:
        def mixed(self) -> str:
            return "mixed"

    class Mixed(Mixin, Base):
        pass

    wrapped = Mixed.__dict__.get("__init__")
    assert getattr(wrapped, "__wrapped__", None) is Base.__dict__["__init__"], (
        "compat.operator_init_applied_once: Airflow no longer wraps an inherited __init__ again (remove it)"
    )
    assert compat.operator_init_applied_once(Mixed) is Mixed and Mixed.__init__ is Base.__init__

    class Own(Mixin, Base):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)

    own = Own.__init__
    assert compat.operator_init_applied_once(Own).__init__ is own  # its own __init__ stays wrapped

    with DAG("once", schedule=None, start_date=datetime(2025, 1, 1), default_args={"retries": 4}):
        task = Mixed(task_id="t", flavour="mixed")
    assert (task.retries, task.flavour, task.mixed(), task.dag_id) == (4, "mixed", "mixed", "once")


def test_the_provider_s_execute_returns_the_pod_s_result_which_cosmos_drops(monkeypatch):
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from cosmos.operators.kubernetes import DbtKubernetesBaseOperator, DbtRunKubernetesOperator

    assert issubclass(DbtKubernetesBaseOperator, KubernetesPodOperator), (
        "compat.cosmos_kubernetes_execute: Cosmos's Kubernetes operators are no KubernetesPodOperator"
    )
    assert list(inspect.signature(KubernetesPodOperator.execute).parameters) == ["self", "context"], (
        "compat.cosmos_kubernetes_execute: KubernetesPodOperator.execute(self, context) changed"
    )
    with DAG("executed", schedule=None, start_date=datetime(2025, 1, 1)):
        task = DbtRunKubernetesOperator(task_id="run", project_dir="/opt/dbt/projects/p", profile_config=None)
    monkeypatch.setattr(KubernetesPodOperator, "execute_sync", lambda self, context: {"pod": context})
    assert compat.cosmos_kubernetes_execute(task, "ctx") == {"pod": "ctx"}, (
        "compat.cosmos_kubernetes_execute: KubernetesPodOperator.execute no longer returns the pod's result"
    )
    assert task.execute({"ti": None}) is None, (
        "compat.cosmos_kubernetes_execute: Cosmos's execute returns the pod's result now: call it instead"
    )


def test_operator_arguments_pass_through_every_init_up_to_base_operator():
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.sdk import BaseOperator
    from cosmos.operators.base import AbstractDbtBase
    from cosmos.operators.local import DbtLocalBaseOperator

    for operator in (KubernetesPodOperator, DbtLocalBaseOperator):
        chain = inspect.getmro(operator)
        for klass in chain[: chain.index(BaseOperator)]:
            kinds = {p.kind for p in inspect.signature(klass.__init__).parameters.values()}
            assert inspect.Parameter.VAR_KEYWORD in kinds, (
                f"compat.operator_arguments: {klass.__qualname__}.__init__ takes no **kwargs: the classes "
                "after it in the method resolution order no longer get the operator's arguments"
            )
    arguments = compat.operator_arguments((KubernetesPodOperator, AbstractDbtBase))
    assert {"image", "callbacks", "task_id", "retries", "select", "dbt_cmd_flags"} <= arguments
    assert not {"self", "args", "kwargs"} & arguments
    local = compat.operator_arguments((DbtLocalBaseOperator, AbstractDbtBase))
    assert {"dbt_runner_callbacks", "install_deps", "task_id", "select"} <= local


def test_dbt_keeps_the_project_schemas_compat_builds():
    from dbt.contracts import project
    from dbt_common.dataclass_schema import dbtClassMixin

    assert issubclass(project.Project, dbtClassMixin) and issubclass(project.ProfileConfig, dbtClassMixin), (
        "compat.dbt_build_project_schemas: dbt.contracts.project no longer holds the Project and "
        "ProfileConfig schemas"
    )
    cache = inspect.getattr_static(dbtClassMixin, "json_schema").__func__
    assert hasattr(cache, "cache_info"), "compat.dbt_build_project_schemas: dbt no longer caches json_schema"
    compat.dbt_build_project_schemas()
    hits = cache.cache_info().hits
    project.Project.json_schema()
    assert cache.cache_info().hits == hits + 1, (
        "compat.dbt_build_project_schemas: the Project schema was not built ahead"
    )
