"""Every use of another library's private or internal API, in one place.

Each function says which version it was written against and why no public API serves.
``tests/unit/test_compat.py`` checks every assumption against the installed libraries and fails with a
message naming the function when an upstream release changes one. Imports stay inside the functions:
importing this module costs nothing (a local task process must not import the Kubernetes client).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

OperatorClass = TypeVar("OperatorClass", bound=type)

# --- astronomer-cosmos 1.15.1 ---------------------------------------------------------------------


def cosmos_test_task(
    task_id: str,
    *,
    test: Any,
    operator_class: type,
    render_config: Any,
    converter_kwargs: dict[str, Any],
    dag: Any,
    task_group: Any,
) -> Any:
    """One test task of class ``operator_class`` (a subclass of Cosmos's test operator of the execution
    mode) for one dbt test node, built as Cosmos builds its own test tasks.

    ``cosmos.airflow.graph.create_test_task_metadata`` and ``cosmos.core.airflow.get_airflow_task`` are
    not public; Cosmos's node converters receive the keyword arguments used here (``execution_mode``,
    ``test_indirect_selection``, ``task_args``, ``on_warning_callback``, ``enable_owner_inheritance``)
    without documenting them. No public API builds a task for one test (Cosmos groups a model's tests
    into one task). The signature changed between Cosmos 1.15.0 and 1.15.1.
    """
    from cosmos.airflow.graph import create_test_task_metadata
    from cosmos.core.airflow import get_airflow_task

    meta = create_test_task_metadata(
        task_id,
        converter_kwargs["execution_mode"],
        converter_kwargs["test_indirect_selection"],
        task_args=converter_kwargs["task_args"],
        on_warning_callback=converter_kwargs["on_warning_callback"],
        node=test,
        render_config=render_config,
        enable_owner_inheritance=converter_kwargs["enable_owner_inheritance"],
    )
    meta.arguments["select"] = "fqn:" + ".".join(test.fqn or [])  # exactly this test
    meta.operator_class = f"{operator_class.__module__}.{operator_class.__qualname__}"
    return get_airflow_task(meta, dag, task_group)


@contextlib.contextmanager
def cosmos_detached_test_ids(task_id: Callable[[Any], str]) -> Iterator[None]:
    """While Cosmos renders a task group: name the task of each test of several models ("detached") with
    ``task_id(test_node)``.

    Cosmos names it in ``cosmos.airflow.graph.calculate_detached_node_name``: ``<test name>_test``, or
    ``detached_<n>_test`` from a process-wide counter once that reaches 250 characters, so the id depends
    on what the process rendered before (a task process, which renders only its node, gets another
    number: Cosmos's issue 1469). No render option or converter argument names these tasks; Cosmos calls
    the function through its module at render time, so swapping it for the render is enough.
    """
    import cosmos.airflow.graph as graph

    original = graph.calculate_detached_node_name
    graph.calculate_detached_node_name = task_id
    try:
        yield
    finally:
        graph.calculate_detached_node_name = original


@contextlib.contextmanager
def cosmos_operator_classes(classes: Mapping[str, type]) -> Iterator[None]:
    """While Cosmos renders a task group: build the task of each node Cosmos would build as one of its
    operators ``<dbt class><mode>Operator`` (``DbtRunKubernetesOperator``...) as ``classes[<dbt class>]``
    (keys ``"DbtRun"``, ``"DbtSeed"``...), a subclass of that operator; a dbt class missing from
    ``classes`` is an error.

    Cosmos 1.15.1 computes each task's class path in ``cosmos.airflow.graph.calculate_operator_class``
    (``cosmos.operators.<mode>.<dbt class><Mode>Operator``) and imports it by that path
    (``cosmos.core.airflow.get_airflow_task``); no render option or operator argument chooses the class,
    and a node converter would have to build every task as Cosmos does (``cosmos.airflow.graph``,
    internal). Cosmos calls the function through its module at render time, so swapping it for the
    render is enough.
    """
    import cosmos.airflow.graph as graph

    from dbt_spark_operator.errors import DbtSparkOperatorError

    original = graph.calculate_operator_class
    paths = {name: f"{cls.__module__}.{cls.__qualname__}" for name, cls in classes.items()}

    def operator_class(execution_mode: Any, dbt_class: str) -> str:
        if dbt_class not in paths:
            cosmos_class = original(execution_mode=execution_mode, dbt_class=dbt_class)
            raise DbtSparkOperatorError(f"Cosmos builds a {cosmos_class}: this package has no class for it")
        return paths[dbt_class]

    graph.calculate_operator_class = operator_class
    try:
        yield
    finally:
        graph.calculate_operator_class = original


def cosmos_node_config(task: Any) -> dict[str, Any]:
    """The dbt node a Cosmos task renders (name, resource_type, config, unique_id), or ``{}``.

    Cosmos keeps it in the operator's ``extra_context["dbt_node_config"]``; it offers no accessor.
    """
    return (getattr(task, "extra_context", None) or {}).get("dbt_node_config") or {}


def cosmos_kubernetes_execute(task: Any, context: Any) -> Any:
    """Run the pod of ``task``, a Cosmos Kubernetes operator whose Kubernetes arguments are built, as
    ``KubernetesPodOperator.execute`` runs it, and return what that returns (the XCom sidecar's
    ``return.json`` when the task pushes XCom).

    Cosmos 1.15.1's ``DbtKubernetesBaseOperator.execute`` (``_k8s_common.build_and_run_cmd``) calls the
    provider's ``execute`` (provider 10.25) and only logs its result; no hook or argument hands the
    result back. Calling the provider's method past Cosmos's override is the private part.
    """
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    return KubernetesPodOperator.execute(task, context)


def operator_arguments(classes: Iterable[type]) -> frozenset[str]:
    """Every argument the operator classes ``classes`` take: the ``__init__`` parameters of each class
    in their method resolution orders, up to Airflow's ``BaseOperator`` (``self``, ``*args`` and
    ``**kwargs`` left out).

    Cosmos 1.15.1's operators and KubernetesPodOperator (provider 10.25) take their arguments through a
    chain of ``__init__(..., **kwargs)`` that each pass the rest on; ``inspect.signature`` of the class
    shows only the first. Neither publishes the set, and Cosmos drops an argument it does not know.
    """
    from airflow.sdk import BaseOperator

    names: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            if klass is object:
                continue
            names.update(inspect.signature(klass.__init__).parameters)  # type: ignore[misc]
            if klass is BaseOperator:
                break
    return frozenset(names - {"self", "args", "kwargs"})


def connection_field(mapping: Any, field: str) -> Any:
    """A connection field as Cosmos's own profile mappings read it (``"login"``, ``"extra.auth"``).

    ``BaseProfileMapping._get_airflow_conn_field`` is private; the public ``get_dbt_value`` applies
    Cosmos's "falsy means missing" rule, which would drop ``false`` and ``0``.
    """
    return mapping._get_airflow_conn_field(field)


# --- Python's inspect on other libraries' classes --------------------------------------------------


def precompute_init_signatures(classes: Iterable[type]) -> None:
    """Give each ``__init__`` in ``classes``' method resolution orders its ``__signature__``, which
    ``inspect.signature`` then returns as it is.

    Cosmos calls ``inspect.signature`` on every KubernetesPodOperator class for every task it builds
    (60 % of parsing a 2,000-task DAG, bench/parse_bench.py); it has no cache and no option to skip it.
    Setting ``__signature__`` on another library's function is the private part.
    """
    for cls in classes:
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if inspect.isfunction(init) and "__signature__" not in init.__dict__:
                init.__signature__ = inspect.signature(init)  # type: ignore[attr-defined]


# --- apache-airflow 3.3.2: the arguments an operator takes, by its signature ---------------------------


def state_signature(func: Callable[..., Any], signature: inspect.Signature) -> None:
    """Make ``signature`` what ``inspect.signature`` reports for ``func``, one of the package's own
    functions: keywords it takes through ``**kwargs`` (the flat keywords of ``project.config``).

    Airflow's ``BaseOperatorMeta`` fills an operator's ``__init__`` arguments from ``default_args`` and
    checks those of ``partial()`` by ``inspect.signature`` of each ``__init__``, which returns a
    ``__signature__`` as it is; no public API names the keywords an ``__init__`` takes through
    ``**kwargs``. Setting ``__signature__`` is what the compat fence keeps here.
    """
    func.__signature__ = signature  # type: ignore[attr-defined]


# --- kubernetes client 36.0.3 ----------------------------------------------------------------------


def k8s_model_from_api_dict(cls_name: str, data: dict[str, Any]) -> Any:
    """A ``kubernetes.client`` model (nested dicts converted too) from API-style camelCase ``data``.

    ``ApiClient._ApiClient__deserialize`` is the client's own converter for API responses; the public
    ``ApiClient.deserialize`` takes an HTTP response object, not a dict.
    """
    from kubernetes.client import ApiClient

    return ApiClient()._ApiClient__deserialize(data, cls_name)


# --- apache-airflow 3.3.2 --------------------------------------------------------------------------


def operator_init_applied_once(cls: OperatorClass) -> OperatorClass:
    """A class decorator for an operator class that defines no ``__init__`` and has a mixin first in its
    bases: its instances are initialised as its operator base's are, its defaults applied once.

    Airflow 3.3.2's ``BaseOperatorMeta`` wraps a new class's ``__init__`` in ``apply_defaults`` (default
    arguments, the DAG and task group from context, the arguments kept for mapping) whenever it differs
    from the first base's; a mixin's is ``object.__init__``, so the inherited, already wrapped
    ``__init__`` is wrapped again and every task applies its defaults twice (10 % of building a Cosmos
    operator). The metaclass offers no option to skip it; the class gets back the ``__init__`` it
    inherits, which the metaclass wrapped when it made that class.
    """
    inherited = next(klass.__dict__["__init__"] for klass in cls.__mro__[1:] if "__init__" in klass.__dict__)
    own = cls.__dict__.get("__init__")
    if own is not None and getattr(own, "__wrapped__", None) is inherited:
        cls.__init__ = inherited  # type: ignore[misc]
    return cls


async def airflow_user(request: Any, bearer: Any) -> Any:
    """The caller as Airflow's own routes resolve it: the ``Authorization: Bearer`` token, else the UI's
    JWT cookie; refused with 401/403 otherwise.

    ``airflow.api_fastapi.core_api.security.get_user`` is internal; Airflow documents no authentication
    API for a plugin's FastAPI app, which it mounts without authentication. Imported on the first
    request: every process that loads plugins (each task process) would pay 0.56 s at plugin load.
    """
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request=request, _oauth_token=None, bearer_credentials=bearer)


def airflow_auth_manager() -> Any:
    """The API server's auth manager (its public interface: ``filter_authorized_dag_ids`` ...).

    ``airflow.api_fastapi.app.get_auth_manager`` is how Airflow's own routes reach it; it is not part of
    the documented public interface.
    """
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def load_airflow_plugins() -> None:
    """Load every Airflow plugin now (the warm executor does it once, before it forks task processes).

    ``airflow.plugins_manager.ensure_plugins_loaded`` is internal; each task process calls it itself.
    """
    from airflow import plugins_manager

    plugins_manager.ensure_plugins_loaded()


def trigger_xcom_get(ti: Any, task_id: str, key: str) -> Any:
    """From a trigger: the XCom ``key`` of ``task_id`` in ``ti``'s DAG run (the configured backend).

    Airflow 3.3.2: a trigger's task instance's ``xcom_pull`` asks for an XCom sequence slice, a message
    the triggerer's supervisor does not serve; ``airflow.sdk.execution_time.xcom.XCom`` (the configured
    backend over the supervisor's ``GetXCom``) is internal, and Cosmos's watcher trigger uses it too.
    """
    from airflow.sdk.execution_time.xcom import XCom

    return XCom.get_one(run_id=ti.run_id, key=key, task_id=task_id, dag_id=ti.dag_id, map_index=ti.map_index)


def trigger_xcom_set(ti: Any, key: str, value: Any) -> None:
    """From a trigger: set XCom ``key`` of ``ti`` itself (see :func:`trigger_xcom_get`)."""
    from airflow.sdk.execution_time.xcom import XCom

    XCom.set(key, value, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, map_index=ti.map_index)


def latest_run(dag_id: str) -> tuple[str, list[tuple[str, str, float | None]]]:
    """State of the latest run of ``dag_id`` and (task, state, seconds) of each of its tasks, from the
    metadata database (``make demo`` after ``airflow dags test``, which starts no API server).

    The ORM models ``DagRun`` and ``TaskInstance`` are internal to Airflow 3; the public REST API would
    need a running API server and a token.
    """
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        if run is None:
            return "missing", []
        tis = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
            .order_by(TaskInstance.start_date)
            .all()
        )
        return str(run.state), [(ti.task_id, str(ti.state), ti.duration) for ti in tis]


# --- dbt-core 1.11.16 and dbt-common 1.39 ---------------------------------------------------------


def dbt_build_project_schemas() -> None:
    """Build the JSON schemas dbt validates a project and a profile against, in this process.

    ``dbt.contracts.project`` is internal to dbt-core, whose only public Python API is ``dbtRunner``;
    dbt builds each class's schema on first use and keeps it (``dbtClassMixin.json_schema``, an
    ``lru_cache``), and offers no call to build them ahead of a command.
    """
    from dbt.contracts import project
    from dbt_common.dataclass_schema import dbtClassMixin

    schemas = [v for v in vars(project).values() if isinstance(v, type) and issubclass(v, dbtClassMixin)]
    for cls in schemas:
        if cls.__module__ == project.__name__:
            cls.json_schema()


# --- PyHive 0.7 and dbt-spark 1.11.0 -------------------------------------------------------------

# A SASL handshake the server ends with BAD (3) or ERROR (4): HiveServer2 and Kyuubi refuse the login
# there ("Error validating the login"), before any session exists.
_REFUSED = re.compile(r"Bad status: [34]\b")


def thrift_plain_login(
    host: str, port: int, user: str, password: str | None, *, use_ssl: bool, timeout: float = 10.0
) -> tuple[str, str]:
    """Open the thrift transport once with SASL PLAIN (auth NONE, LDAP or CUSTOM), as dbt-spark does, and
    close it. Returns ``(outcome, text)``: ``accepted``; ``refused`` with the server's answer; ``closed``
    when the server hung up without a word (what a TLS endpoint does to a plain client); ``unreachable``.
    No session is opened, so no Kyuubi engine starts.

    PyHive's ``get_installed_sasl`` and dbt-spark's ``build_ssl_transport`` are how both build that
    transport; neither offers a public "check the login" call, and ``hive.connect`` opens a session.
    """
    import thrift_sasl
    from pyhive.hive import get_installed_sasl
    from thrift.transport import TSocket, TTransport

    if use_ssl:
        from dbt.adapters.spark.connections import build_ssl_transport

        transport = build_ssl_transport(host, port, user, "LDAP", "", password)
        socket = transport._trans  # the TSSLSocket under the SASL transport
    else:
        socket = TSocket.TSocket(host, port)
        transport = thrift_sasl.TSaslClientTransport(
            lambda: get_installed_sasl(host=host, sasl_auth="PLAIN", username=user, password=password or "x"),
            "PLAIN",
            socket,
        )
    socket.setTimeout(timeout * 1000)
    quiet = logging.getLogger("thrift")  # an unreachable server is dbt's to report, with its retries
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        transport.open()
    except TTransport.TTransportException as exc:
        text = str(exc)
        if _REFUSED.search(text):
            return "refused", text
        return ("closed" if exc.type == TTransport.TTransportException.END_OF_FILE else "unreachable"), text
    except (ConnectionResetError, BrokenPipeError) as exc:  # reached, and it hung up on us
        return "closed", str(exc)
    except OSError as exc:
        return "unreachable", str(exc)
    finally:
        quiet.setLevel(level)
        with contextlib.suppress(Exception):  # a transport that never opened may not close cleanly
            transport.close()
    return "accepted", ""
