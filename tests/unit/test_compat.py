"""Each private or internal API that dbt_spark_operator.compat uses, checked against the installed
libraries: when an upstream release changes one, the failure names the compat function to revisit."""

from __future__ import annotations

import contextlib
import inspect
import os
import socket
import struct
import threading
from datetime import datetime

import pytest
from airflow.sdk import DAG
from kubernetes.client import models as k8s

from conftest import ROOT, python_json
from dbt_spark_operator import compat

PRIVATE_NAMES = (
    "_ApiClient__",
    "__signature__",
    "cosmos.airflow.graph",
    "cosmos.core.airflow",
    "ensure_plugins_loaded",
    "_get_airflow_conn_field",
    "dbt_node_config",
    "core_api.security",
    "get_auth_manager",
    "airflow.models",
    "execution_time.xcom",
)


def test_private_names_appear_only_in_the_compat_module():
    package = ROOT / "plugin" / "dbt_spark_operator"
    found = {
        (path.name, name)
        for path in package.glob("*.py")
        if path.name != "compat.py"
        for name in PRIVATE_NAMES
        if name in path.read_text()
    }
    assert found == set(), "use dbt_spark_operator.compat for these"


def test_cosmos_test_task_builder_takes_what_compat_passes():
    from cosmos.airflow.graph import create_test_task_metadata
    from cosmos.core.airflow import get_airflow_task

    params = set(inspect.signature(create_test_task_metadata).parameters)
    wanted = {"task_args", "on_warning_callback", "node", "render_config", "enable_owner_inheritance"}
    assert wanted <= params, f"compat.cosmos_test_task: create_test_task_metadata now takes {sorted(params)}"
    assert list(inspect.signature(get_airflow_task).parameters)[:3] == ["task", "dag", "task_group"], (
        "compat.cosmos_test_task: get_airflow_task(task, dag, task_group) changed"
    )


def test_cosmos_profile_mapping_reads_connection_fields(monkeypatch):
    from cosmos.profiles.base import BaseProfileMapping

    from conftest import kyuubi_connection
    from dbt_spark_operator import KyuubiProfileMapping

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


def _one_shot_server(reply: bytes | None) -> int:
    """A server that reads the client's first bytes, answers ``reply`` (or nothing) and hangs up."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(0.5)
            with contextlib.suppress(TimeoutError):  # all the client sends before it waits for an answer
                while conn.recv(4096):
                    pass
            if reply:
                conn.sendall(reply)
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def test_thrift_sasl_handshake_internals_compat_uses():
    from dbt.adapters.spark.connections import build_ssl_transport
    from thrift.transport.TSSLSocket import TSSLSocket

    transport = build_ssl_transport("127.0.0.1", 1, "etl", "LDAP", "", "pw")
    assert isinstance(getattr(transport, "_trans", None), TSSLSocket), (
        "compat.thrift_plain_login: thrift_sasl no longer keeps its socket in _trans"
    )
    # The three answers compat tells apart, from servers that give them (no engine needed).
    message = b"Error validating the login"
    refused = _one_shot_server(b"\x03" + struct.pack(">I", len(message)) + message)  # SASL status BAD
    outcome, text = compat.thrift_plain_login("127.0.0.1", refused, "etl", "pw", use_ssl=False, timeout=5)
    assert (outcome, text) == ("refused", "Bad status: 3 (b'Error validating the login')"), (
        "compat.thrift_plain_login: a refused login reads differently now"
    )
    silent = _one_shot_server(None)
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


def test_cosmos_kubernetes_tasks_hand_the_pod_result_to_extract_xcom_only():
    import cosmos.operators._k8s_common as k8s_common
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from cosmos.operators.kubernetes import DbtRunKubernetesOperator

    source = inspect.getsource(k8s_common.build_and_run_cmd)
    assert "pod_operator_class.execute(operator, context)" in source and "return result" not in source, (
        "compat.cosmos_pod_task: Cosmos's build_and_run_cmd changed (returns the result?)"
    )
    assert "self.extract_xcom(pod=self.pod)" in inspect.getsource(KubernetesPodOperator.execute_sync), (
        "compat.cosmos_pod_task: KubernetesPodOperator no longer reads the sidecar via extract_xcom"
    )

    with DAG("kept", schedule=None, start_date=datetime(2025, 1, 1)):
        task = DbtRunKubernetesOperator(task_id="run", project_dir="/opt/dbt/projects/p", profile_config=None)
    compat.cosmos_pod_task(task)
    kept = type(task)
    assert kept.__name__ == "DbtRunKubernetesOperator" and kept.__module__ == "cosmos.operators.kubernetes"
    assert issubclass(kept, DbtRunKubernetesOperator)
    compat.cosmos_pod_task(task)
    assert type(task) is kept  # once, whatever the number of calls
    original = KubernetesPodOperator.extract_xcom
    try:
        KubernetesPodOperator.extract_xcom = lambda self, pod: {"results": [pod]}
        assert task.extract_xcom("pod") == {"results": ["pod"]}
    finally:
        KubernetesPodOperator.extract_xcom = original
    assert task.dbt_pod_result == {"results": ["pod"]}


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


def test_a_cosmos_task_takes_a_subclass_with_its_attributes():
    import copy

    from cosmos.operators.kubernetes import DbtRunKubernetesOperator

    class Mixin:
        def mixed(self) -> str:
            return "mixed"

    with DAG("swapped", schedule=None, start_date=datetime(2025, 1, 1)):
        task = DbtRunKubernetesOperator(task_id="run", project_dir="/opt/dbt/projects/p", profile_config=None)
    subclass = type("Swapped", (Mixin, DbtRunKubernetesOperator), {})
    compat.cosmos_task_class(task, subclass)
    assert type(task) is subclass and task.mixed() == "mixed", "compat.cosmos_task_class: no class swap"
    assert (task.task_id, task.dag_id, task.project_dir) == ("run", "swapped", "/opt/dbt/projects/p"), (
        "compat.cosmos_task_class: the task lost what Cosmos set"
    )
    assert type(copy.deepcopy(task)) is subclass, (
        "compat.cosmos_task_class: a copy of the task lost its class"
    )
    with pytest.raises(TypeError, match="not a subclass"):
        compat.cosmos_task_class(task, Mixin)


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
