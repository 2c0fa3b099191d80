"""dbt_task_group in Kubernetes execution: every pod built by KubernetesPodOperator's own code path,
validated strictly, with the settings the product promises; bad input rejected at DAG parse; a task
process rendering only its node; the sample DAG parsed with no engine and no Java."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime

import kubernetes_validate
import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG
from airflow.sdk.definitions._internal.dag_parsing_context import _airflow_parsing_context_manager
from kubernetes.client import models as k8s

from dbt_spark_operator import DbtSparkOperatorError, PodSettings, dbt_task_group
from dbt_spark_operator.runtime.rendered_pod import pod_body, render_pod
from helpers import BIN, K8S_VERSION, PROJECT, ROOT, kyuubi_connection, task_settings


@pytest.fixture(scope="module")
def dags():
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags


@pytest.mark.parametrize("folder", ["dags", "tests/integration_dags"])
def test_a_task_process_renders_only_its_node_and_gets_the_same_task(folder):
    """Airflow names the running task in its parsing context; the DAG file then renders only that node's
    tasks, and the task it finds is the task the scheduler planned, setting for setting."""
    checked = 0
    for dag_id, dag in DagBag(dag_folder=str(ROOT / folder)).dags.items():
        for task_id, task in dag.task_dict.items():
            with _airflow_parsing_context_manager(dag_id=dag_id, task_id=task_id):
                narrowed = DagBag(dag_folder=dag.fileloc).dags[dag_id]
            again = narrowed.task_dict[task_id]
            assert type(again) is type(task) and task_settings(again) == task_settings(task), task_id
            if hasattr(task, "profile_config"):
                profile = again.profile_config.profile_mapping.get_profile_file_contents("p", "t")
                assert profile == task.profile_config.profile_mapping.get_profile_file_contents("p", "t")
            if "dbt_node_config" in (getattr(task, "extra_context", None) or {}):  # a dbt_task_group task
                assert len(narrowed.tasks) < len(dag.tasks), task_id
                checked += 1
    assert checked >= 10  # every dbt task of the folder, in each of its DAGs


def pod_tasks(dag):
    return [t for t in dag.tasks if hasattr(t, "build_pod_request_obj")]


def manifests(dag, dry_run=False):
    return {t.task_id: pod_body(render_pod(t, dry_run=dry_run)) for t in pod_tasks(dag)}


def nodes():
    return json.loads((PROJECT / "target" / "manifest.json").read_text())["nodes"]


def test_every_pod_of_every_kubernetes_dag_validates_strictly(dags):
    kube_dags = [dag for dag in dags.values() if pod_tasks(dag)]
    assert "analytics_kubernetes" in {d.dag_id for d in kube_dags}
    for dag in kube_dags:
        for task_id, manifest in manifests(dag).items():
            kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
            assert manifest["metadata"]["labels"]["airflow_kpo_in_cluster"] == "False", task_id


def test_pod_defaults(dags):
    dag = dags["analytics_kubernetes"]
    task = dag.task_dict["analytics.simple_pipeline.run"]
    assert all(isinstance(m, k8s.V1VolumeMount) for m in task.volume_mounts)
    assert isinstance(task.container_resources, k8s.V1ResourceRequirements)
    pod = render_pod(task, dry_run=False)
    # The sidecar hands dbt's run result back for the model's asset event (docs/assets.md).
    assert [c.name for c in pod.spec.containers] == ["base", "airflow-xcom-sidecar"]
    container = pod.spec.containers[0]
    assert container.image == "dbt-spark:latest" and container.image_pull_policy == "Never"
    mounts = {m.mount_path: m for m in container.volume_mounts}
    assert mounts["/opt/dbt/projects"].name == "dbt-projects" and mounts["/opt/dbt/projects"].read_only
    volumes = {v.name: v for v in pod.spec.volumes}
    assert volumes["dbt-projects"].persistent_volume_claim.claim_name == "dbt-projects"
    assert volumes["dbt-state"].persistent_volume_claim.claim_name == "dbt-state"
    env = {e.name: e.value for e in container.env}
    assert env["DBT_PROJECT_DIR"] == "/opt/dbt/projects/analytics"
    assert env["DBT_PROFILES_DIR"] == "/opt/dbt/profiles"
    assert container.resources.requests == {"memory": "512Mi", "cpu": "250m"}
    assert container.resources.limits == {"memory": "2Gi", "cpu": "1000m"}
    labels = pod.metadata.labels
    assert labels["dag_id"] == "analytics_kubernetes" and labels["task_id"] == "analytics.simple_pipeline.run"
    assert labels["dbt-node"] == "simple-pipeline" and labels["dbt-resource-type"] == "model"
    assert pod.metadata.namespace == "airflow" and pod.spec.service_account_name == "default"
    assert task.on_finish_action.value == "delete_pod" and task.get_logs
    # Hardened: non-root, no privilege escalation, no capabilities, seccomp, read-only root filesystem
    # with emptyDirs where dbt writes (/tmp, the profile).
    assert pod.spec.security_context.run_as_non_root and pod.spec.security_context.run_as_user == 10001
    assert pod.spec.security_context.seccomp_profile.type == "RuntimeDefault"
    sc = container.security_context
    assert sc.allow_privilege_escalation is False and sc.capabilities.drop == ["ALL"]
    assert sc.read_only_root_filesystem is True
    assert {m.mount_path for m in container.volume_mounts if not m.read_only} == {
        "/opt/dbt/profiles",
        "/opt/dbt/state",
        "/tmp",
        "/airflow/xcom",  # where dbt's result goes for the sidecar
    }


def test_per_model_resources_come_from_dbt_meta(dags):
    task = dags["analytics_kubernetes"].task_dict["analytics.fct_employee_events.run"]
    assert task.container_resources.requests == {"memory": "1Gi", "cpu": "500m"}
    assert task.container_resources.limits == {"memory": "3Gi", "cpu": "2"}


def test_each_model_task_selects_exactly_its_model(dags):
    manifest_nodes = nodes()
    models = {n["name"]: n for n in manifest_nodes.values() if n["resource_type"] == "model"}
    run_tasks = [t for t in pod_tasks(dags["analytics_kubernetes"]) if t.task_id.endswith(".run")]
    assert len(run_tasks) == len(models) == 5
    for task in run_tasks:
        task.build_kube_args({"ti": None, "dag": task.dag, "task": task, "run_id": "r", "params": {}})
        args = task.arguments
        assert args[:2] == ["dbt", "run"]
        selected = args[args.index("--select") + 1 :]
        selected = selected[: next((i for i, a in enumerate(selected) if a.startswith("--")), len(selected))]
        matched = {
            name for name, n in models.items() for s in selected if s in (name, "fqn:" + ".".join(n["fqn"]))
        }
        assert matched == {task.task_id.split(".")[1]}, (task.task_id, selected)


def test_each_dbt_test_is_one_task_after_what_it_tests(dags):
    dag = dags["analytics_kubernetes"]
    tasks = {t.extra_context["dbt_node_config"]["unique_id"]: t for t in pod_tasks(dag) if t.extra_context}
    tests = {uid: n for uid, n in nodes().items() if n["resource_type"] == "test"}
    assert len(tests) == 26 and set(tests) <= set(tasks)
    for uid, test in tests.items():
        task = tasks[uid]
        task.build_kube_args({"ti": None, "dag": dag, "task": task, "run_id": "r", "params": {}})
        assert task.arguments[:2] == ["dbt", "test"]
        assert task.arguments[task.arguments.index("--select") + 1] == "fqn:" + ".".join(test["fqn"])
        for parent in test["depends_on"]["nodes"]:  # after each node it tests
            assert tasks[uid] in tasks[parent].get_flat_relatives(upstream=False), (uid, parent)
    # A model's downstream waits for every test of the model.
    downstream = dag.task_dict["analytics.department_summary.run"].upstream_task_ids
    assert downstream == {
        tasks[uid].task_id
        for uid, t in tests.items()
        if t["depends_on"]["nodes"] == ["model.analytics.simple_pipeline"]
    }


def test_kubernetes_and_local_dags_render_the_same_graph(dags):
    def graph(dag):
        return {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}

    assert graph(dags["analytics_kubernetes"]) == graph(dags["simple_model_test"])


def test_import_into_any_dag_between_plain_tasks():
    with DAG("user_dag", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        extract = EmptyOperator(task_id="extract")
        notify = EmptyOperator(task_id="notify")
        group = dbt_task_group(
            "analytics", group_id="marts_only", select=["tag:marts"], execution="kubernetes"
        )
        extract >> group >> notify
    ids = set(dag.task_dict)
    assert "marts_only.simple_pipeline.run" in ids and "marts_only.stg_employees.run" not in ids
    first = [
        t for t in dag.tasks if t.task_id.startswith("marts_only.") and not t.upstream_task_ids - {"extract"}
    ]
    assert first and all(t.upstream_task_ids == {"extract"} for t in first)
    assert dag.task_dict["notify"].upstream_task_ids and all(
        u.startswith("marts_only.") for u in dag.task_dict["notify"].upstream_task_ids
    )


def test_secret_reaches_pods_only_as_a_secret_reference(monkeypatch):
    password = "Sup3r-Secret-Passw0rd"
    monkeypatch.setenv(
        *kyuubi_connection(
            "kyuubi_ldap", host="kyuubi", login="etl", password=password, extra={"auth": "LDAP"}
        )
    )
    with DAG("secret_dag", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        dbt_task_group(
            "analytics",
            conn_id="kyuubi_ldap",
            execution="kubernetes",
            pod=PodSettings(password_secret=("kyuubi-credentials", "password")),
        )
    rendered = manifests(dag)
    assert len(rendered) == len(dag.tasks) > 10
    text = yaml.safe_dump_all(list(rendered.values()))
    assert password not in text
    for manifest in rendered.values():
        env = {e["name"]: e for e in manifest["spec"]["containers"][0]["env"]}
        assert env["COSMOS_CONN_KYUUBI_PASSWORD"]["valueFrom"] == {
            "secretKeyRef": {"name": "kyuubi-credentials", "key": "password"}
        }
        profile = yaml.safe_load(env["DBT_SPARK_PROFILE_YAML"]["value"])["analytics"]["outputs"]["kyuubi"]
        assert profile["password"] == "{{ env_var('COSMOS_CONN_KYUUBI_PASSWORD') }}"
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)

    # Without a Secret named, the DAG parses (the connection is not read there); the task fails when it
    # builds its pod, before any pod exists, naming what to set.
    with DAG("no_secret", schedule=None, start_date=datetime(2025, 1, 1)) as no_secret:
        dbt_task_group("analytics", conn_id="kyuubi_ldap", execution="kubernetes")
    with pytest.raises(DbtSparkOperatorError, match="has a password: name the Kubernetes Secret"):
        render_pod(no_secret.task_dict["analytics.simple_pipeline.run"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"operator_args": {"dbt_vars": {"day": 1}}}, "unknown operator argument 'dbt_vars'"),
        ({"select": ["tag:nothing_has_this"]}, "matches no node of dbt project analytics"),
        (
            {"execution": "docker"},
            "execution must be kubernetes, local, watcher, watcher_kubernetes, got 'docker'",
        ),
        ({"pod": "big"}, None),
        ({"profile_args": {"hots": "kyuubi"}}, "profile_args: unknown key 'hots'; use one of host, "),
        ({"profile_args": {"port": "10009x"}}, "profile_args: port must be a whole number, got '10009x'"),
        ({"profile_args": {"auth": "ldapp"}}, "profile_args: auth must be one of NONE, NOSASL, LDAP"),
        ({"profile_args": {"password": "pw"}}, "profile_args must not hold the password"),
        ({"profile_args": {"use_ssl": "maybe"}}, "profile_args: use_ssl must be true or false"),
    ],
)
def test_bad_arguments_fail_at_dag_parse(kwargs, message):
    if message is None:  # wrong type for pod settings
        kwargs, message = {"pod": "big"}, "'str' object has no attribute"
    with (
        pytest.raises((DbtSparkOperatorError, AttributeError), match=message),
        DAG("bad", schedule=None, start_date=datetime(2025, 1, 1)),
    ):
        dbt_task_group("analytics", **{"execution": "kubernetes", **kwargs})


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("volume_mounts", "use PodSettings\\(extra_volume_mounts=...\\)"),
        ("container_resources", "use PodSettings\\(resources=...\\)"),
        ("image", "use PodSettings\\(image=...\\)"),
        ("cmds", "the pod's command is the package's"),
    ],
)
def test_operator_args_cannot_replace_the_pods_own(key, message):
    with (
        pytest.raises(
            DbtSparkOperatorError,
            match=f"operator argument '{key}' would replace the dbt pod's own: {message}",
        ),
        DAG("replace", schedule=None, start_date=datetime(2025, 1, 1)),
    ):
        dbt_task_group("analytics", execution="kubernetes", operator_args={key: [{"name": "x"}]})


def test_missing_manifest_is_one_clear_error(tmp_path):
    with (
        pytest.raises(DbtSparkOperatorError, match=f"dbt manifest {tmp_path / 'm.json'} does not exist"),
        DAG("manifest", schedule=None, start_date=datetime(2025, 1, 1)),
    ):
        dbt_task_group("analytics", execution="kubernetes", manifest=tmp_path / "m.json")


PARSE = """
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={path!r})
print(sorted(bag.import_errors.values()), sorted(bag.dag_ids))
"""


def test_dag_parses_without_engine_or_jvm():
    env = {**os.environ, "PATH": str(BIN), "DBT_SPARK_LOCAL_PORT": "1"}  # no java on PATH, no engine
    env.pop("JAVA_HOME", None)
    path = str(ROOT / "dags" / "simple_model_test.py")
    proc = subprocess.run(
        [str(BIN / "python"), "-c", PARSE.format(path=path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[] ['simple_model_test', 'simple_model_watcher']"
