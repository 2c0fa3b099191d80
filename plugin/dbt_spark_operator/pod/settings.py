"""Pod settings for dbt tasks in Kubernetes execution: Kubernetes client models, checked at DAG parse.

Resources, volumes and mounts may be given as dicts: they are converted to ``kubernetes.client`` models
here, or rejected with one line naming the bad field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from airflow.providers.cncf.kubernetes.secret import Secret
from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
from kubernetes.client import models as k8s

from dbt_spark_operator import compat
from dbt_spark_operator.errors import DbtSparkOperatorError

PROJECTS_MOUNT = "/opt/dbt/projects"
PROFILES_DIR = "/opt/dbt/profiles"
SCRATCH_MOUNT = "/tmp"  # an emptyDir: the root filesystem is read-only
SCRATCH_DIR = "/tmp/dbt"  # target/ and logs/ of each run: never written into the shared project volume
STATE_MOUNT = "/opt/dbt/state"  # shared between tasks: packages/<project> (dbt deps), docs/<project>
PROFILE_ENV = "DBT_SPARK_PROFILE_YAML"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
# Where the projects and the shared state come from: PersistentVolumeClaims (admitted by a cluster that
# enforces Pod Security "restricted"), or minikube's node paths (hostPath: refused even at "baseline").
VOLUME_LAYOUTS = ("pvc", "minikube-hostpath")
VOLUMES_ENV = "DBT_SPARK_VOLUMES"
XCOM_SIDECAR_IMAGE_ENV = "DBT_SPARK_XCOM_SIDECAR_IMAGE"
ARTIFACT_ENV = "DBT_SPARK_ARTIFACT"
DOCS_DAG_ENV = "DBT_SPARK_DOCS_DAG"  # set by the docs task: the DAG recorded beside the site it wrote
XCOM_DIR = "/airflow/xcom"  # KubernetesPodOperator's sidecar reads return.json from here
# Writes the profile the task rendered (secrets only as env_var() references), runs dbt (passing
# SIGTERM on to it), records the docs task's DAG beside the site it wrote (the docs page serves a site to
# the users Airflow lets read that DAG), and hands dbt's result artifact to the XCom sidecar when there
# is one.
POD_SCRIPT = (
    'set -u; mkdir -p "$DBT_PROFILES_DIR"; '
    'printf "%s\\n" "$DBT_SPARK_PROFILE_YAML" > "$DBT_PROFILES_DIR/profiles.yml" || exit 1; '
    '"$@" & child=$!; trap \'kill -TERM "$child" 2>/dev/null\' TERM INT; '
    'rc=0; while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done; '
    f'if [ "$rc" = 0 ] && [ -n "${{{DOCS_DAG_ENV}:-}}" ]; then mkdir -p "$DBT_TARGET_PATH/.dags" '
    f'&& : > "$DBT_TARGET_PATH/.dags/${DOCS_DAG_ENV}"; fi; '
    f'if [ -d {XCOM_DIR} ]; then cp "$DBT_TARGET_PATH/${{{ARTIFACT_ENV}:-run_results.json}}" '
    f"{XCOM_DIR}/return.json 2>/dev/null || echo '{{}}' > {XCOM_DIR}/return.json; fi; "
    "exit $rc"
)
META_KEY = "dbt_spark_operator"  # dbt meta: {dbt_spark_operator: {resources: {requests: ..., limits: ...}}}
_QUANTITY = re.compile(r"^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_LABEL_BAD = re.compile(r"[^a-z0-9.-]+")


def default_resources() -> k8s.V1ResourceRequirements:
    return k8s.V1ResourceRequirements(
        requests={"memory": "512Mi", "cpu": "250m"}, limits={"memory": "2Gi", "cpu": "1000m"}
    )


def resources(value: k8s.V1ResourceRequirements | Mapping[str, Any]) -> k8s.V1ResourceRequirements:
    """``V1ResourceRequirements`` from a model or a ``{"requests": {...}, "limits": {...}}`` dict, checked."""
    if isinstance(value, Mapping):
        unknown = set(value) - {"requests", "limits"}
        if unknown:
            raise DbtSparkOperatorError(
                f"resources: unknown key {sorted(unknown)[0]!r}; use requests and limits"
            )
        value = k8s.V1ResourceRequirements(requests=value.get("requests"), limits=value.get("limits"))
    if not isinstance(value, k8s.V1ResourceRequirements):
        raise DbtSparkOperatorError(
            f"resources must be V1ResourceRequirements or a dict, got {type(value).__name__}"
        )
    for part in ("requests", "limits"):
        for name, quantity in (getattr(value, part) or {}).items():
            if name not in ("cpu", "memory", "ephemeral-storage") or not _QUANTITY.match(str(quantity)):
                raise DbtSparkOperatorError(
                    f"resources.{part}.{name} = {quantity!r} is not a Kubernetes quantity (e.g. 512Mi, 250m)"
                )
    return value


def k8s_model(cls: type, value: Any) -> Any:
    """A ``kubernetes.client`` model from itself or from a dict (camelCase or snake_case keys, nested dicts
    converted too), or one clear error naming the field: never a dict inside a pod spec."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise DbtSparkOperatorError(f"expected {cls.__name__} or a dict, got {type(value).__name__}")
    attribute_map: dict[str, str] = cls.attribute_map  # type: ignore[attr-defined]  # every model has one
    camel: dict[str, Any] = {}
    for key, item in value.items():
        if key not in attribute_map and key not in attribute_map.values():
            raise DbtSparkOperatorError(f"{cls.__name__} has no field {key!r}")
        camel[attribute_map.get(str(key), str(key))] = item
    # The client's own converter (what it does with API responses): nested dicts become models too.
    converted = compat.k8s_model_from_api_dict(cls.__name__, camel)
    if converted.name is None:
        raise DbtSparkOperatorError(f"{cls.__name__} needs a name: {dict(value)}")
    return converted


def label_value(text: str) -> str:
    """A valid Kubernetes label value (DNS-1123-ish, at most 63 characters) for any name."""
    value = _LABEL_BAD.sub("-", text.lower()).strip("-.")[:63].rstrip("-.")
    return value or "x"


def pod_name(task_id: str) -> str:
    """The name a task's pod starts with (KubernetesPodOperator adds a random suffix): the task id as a
    DNS-1123 label. Never empty: the provider, left to name the pod itself, makes ``-<suffix>`` of a task
    id without a letter or digit, which the API server refuses."""
    return label_value(task_id)[:50].replace(".", "-").strip("-") or "x"


def name_pod(task: Any, node: str, kind: str) -> None:
    """Name ``task``'s pod after the task (:func:`pod_name`) and label it with the dbt node (or command,
    macro, group) it runs and that node's kind (resource type, command, ``operation``, ``build``)."""
    task.name = pod_name(task.task_id)
    task.labels = {
        **(task.labels or {}),
        "dbt-node": label_value(node),
        "dbt-resource-type": label_value(kind),
    }


def node_resources(node: Mapping[str, Any]) -> k8s.V1ResourceRequirements | None:
    """The resources a dbt node's ``meta`` sets for its pod (``{META_KEY: {resources: {requests: ...,
    limits: ...}}}``), checked; None when it sets none."""
    custom = ((node.get("config") or {}).get("meta") or {}).get(META_KEY, {}).get("resources")
    if not custom:
        return None
    try:
        return resources(custom)
    except DbtSparkOperatorError as exc:
        raise DbtSparkOperatorError(f"dbt node {node.get('unique_id')}: meta.{META_KEY}.{exc}") from None


def default_volume_layout() -> str:
    """``DBT_SPARK_VOLUMES`` (pvc or minikube-hostpath), else pvc."""
    return os.environ.get(VOLUMES_ENV) or "pvc"


def default_xcom_sidecar_image() -> str | None:
    """``DBT_SPARK_XCOM_SIDECAR_IMAGE``, else None: KubernetesPodOperator's own choice (the Kubernetes
    connection's ``xcom_sidecar_container_image``, else its pinned ``alpine``)."""
    return os.environ.get(XCOM_SIDECAR_IMAGE_ENV) or None


@dataclass(frozen=True)
class PodSettings:
    """What every dbt pod gets; ``with_(...)`` returns a changed copy.

    Volumes: by default (``volume_layout="pvc"``) the projects come read-only from the
    PersistentVolumeClaim ``projects_pvc`` and the shared state from the ReadWriteMany claim
    ``state_pvc``, which a cluster enforcing Pod Security "restricted" admits.
    :meth:`minikube` (or ``DBT_SPARK_VOLUMES=minikube-hostpath``) mounts node paths instead.

    :param image: the dbt-spark image
    :param image_pull_policy: ``Always``, ``IfNotPresent`` or ``Never`` (the default: the image built
        into the cluster)
    :param namespace: the pods' namespace
    :param service_account_name: the pods' service account
    :param volume_layout: ``pvc`` or ``minikube-hostpath`` (default ``$DBT_SPARK_VOLUMES``, else ``pvc``)
    :param projects_pvc: the claim holding the dbt projects, mounted read-only at ``/opt/dbt/projects``
        (ReadOnlyMany is enough)
    :param state_pvc: the ReadWriteMany claim every task shares at ``/opt/dbt/state``: packages from the
        deps task, docs
    :param projects_host_path: ``minikube-hostpath``: the node's directory of projects
    :param state_host_path: ``minikube-hostpath``: the node's state directory
    :param resources: the dbt container's ``V1ResourceRequirements`` or a
        ``{"requests": {...}, "limits": {...}}`` dict (default: requests 512Mi / 250m, limits 2Gi / 1000m)
    :param env: more environment variables of the dbt container (no secrets)
    :param password_secret: ``(name, key)`` of the Kubernetes Secret holding the Kyuubi password, which
        reaches the pod only as a ``secretKeyRef``; required when the connection has a password
    :param labels: more pod labels
    :param startup_timeout_seconds: how long a pod may take to start
    :param run_as_user: the uid (and gid, fsGroup) the pod runs as: the image's user
    :param extra_volumes: more volumes: ``V1Volume`` models, or dicts converted to them
    :param extra_volume_mounts: more mounts of the dbt container: ``V1VolumeMount`` models, or dicts
        converted to them
    :param xcom_sidecar_image: the image of the XCom sidecar that carries a command operator's result out
        of its pod, pulled with ``image_pull_policy`` (default ``$DBT_SPARK_XCOM_SIDECAR_IMAGE``, else
        ``KubernetesPodOperator``'s own)
    """

    image: str = "dbt-spark:latest"
    image_pull_policy: str = "Never"  # the image is built into the cluster (minikube), not pulled
    namespace: str = "airflow"
    service_account_name: str = "default"
    volume_layout: str = field(default_factory=default_volume_layout)
    projects_pvc: str = "dbt-projects"  # the dbt projects (ReadOnlyMany is enough)
    state_pvc: str = "dbt-state"  # shared by all tasks: installed packages, docs (ReadWriteMany)
    projects_host_path: str = PROJECTS_MOUNT  # minikube-hostpath: the node's directory of projects
    state_host_path: str = STATE_MOUNT  # minikube-hostpath: the node's state directory
    resources: k8s.V1ResourceRequirements = field(default_factory=default_resources)
    env: Mapping[str, str] = field(default_factory=dict)
    password_secret: tuple[str, str] | None = None  # (Secret name, key) holding the Kyuubi password
    labels: Mapping[str, str] = field(default_factory=dict)
    startup_timeout_seconds: int = 300
    run_as_user: int = 10001  # the dbt-spark image's user (image/Dockerfile)
    extra_volumes: Sequence[k8s.V1Volume | Mapping[str, Any]] = ()  # dicts are converted (or rejected)
    extra_volume_mounts: Sequence[k8s.V1VolumeMount | Mapping[str, Any]] = ()
    # The image of the XCom sidecar that carries a command operator's result out of its pod (pulled with
    # image_pull_policy): a cluster that cannot pull the provider's alpine names a local one.
    xcom_sidecar_image: str | None = field(default_factory=default_xcom_sidecar_image)

    @classmethod
    def minikube(cls, **changes: Any) -> PodSettings:
        """The minikube preset: projects and state from the node's paths (hostPath), filled by
        scripts/deploy.sh. A cluster enforcing Pod Security "baseline" or stricter refuses these pods.

        :param changes: more fields, by name
        """
        return cls(**{"volume_layout": "minikube-hostpath", **changes})

    def __post_init__(self) -> None:
        if self.volume_layout not in VOLUME_LAYOUTS:
            raise DbtSparkOperatorError(
                f"volume_layout must be {' or '.join(VOLUME_LAYOUTS)}, got {self.volume_layout!r} "
                f"(PodSettings or {VOLUMES_ENV})"
            )
        if self.volume_layout == "pvc" and not (self.projects_pvc and self.state_pvc):
            raise DbtSparkOperatorError("projects_pvc and state_pvc must name PersistentVolumeClaims")
        if not self.image:
            raise DbtSparkOperatorError("pod image must not be empty")
        if self.image_pull_policy not in PULL_POLICIES:
            raise DbtSparkOperatorError(
                f"image_pull_policy must be one of {', '.join(PULL_POLICIES)}, got {self.image_pull_policy!r}"
            )
        object.__setattr__(self, "resources", resources(self.resources))
        volumes = tuple(k8s_model(k8s.V1Volume, v) for v in self.extra_volumes)
        object.__setattr__(self, "extra_volumes", volumes)
        mounts = tuple(k8s_model(k8s.V1VolumeMount, m) for m in self.extra_volume_mounts)
        object.__setattr__(self, "extra_volume_mounts", mounts)
        names = {v.name for v in self.volumes()}
        for mount in mounts:
            if mount.name not in names:
                raise DbtSparkOperatorError(f"volume mount {mount.name!r} names no volume (extra_volumes)")
        if self.xcom_sidecar_image is not None and not self.xcom_sidecar_image.strip():
            raise DbtSparkOperatorError("xcom_sidecar_image must name an image (or be None)")
        if self.password_secret is not None and (
            len(self.password_secret) != 2 or not all(self.password_secret)
        ):
            raise DbtSparkOperatorError("password_secret must be (secret name, key)")

    def with_(self, **changes: Any) -> PodSettings:
        """A changed copy, checked as a new one is.

        :param changes: the fields to change, by name
        """
        return replace(self, **changes)

    def volumes(self) -> list[k8s.V1Volume]:
        hostpath = self.volume_layout == "minikube-hostpath"
        return [
            _volume(
                "dbt-projects", None if hostpath else self.projects_pvc, self.projects_host_path, "Directory"
            ),
            _volume(
                "dbt-state", None if hostpath else self.state_pvc, self.state_host_path, "DirectoryOrCreate"
            ),
            *self.extra_volumes,
            k8s.V1Volume(name="dbt-profiles", empty_dir=k8s.V1EmptyDirVolumeSource()),
            k8s.V1Volume(name="dbt-scratch", empty_dir=k8s.V1EmptyDirVolumeSource()),
        ]

    def volume_mounts(self) -> list[k8s.V1VolumeMount]:
        return [
            k8s.V1VolumeMount(name="dbt-projects", mount_path=PROJECTS_MOUNT, read_only=True),
            k8s.V1VolumeMount(name="dbt-state", mount_path=STATE_MOUNT),
            k8s.V1VolumeMount(name="dbt-profiles", mount_path=PROFILES_DIR),
            k8s.V1VolumeMount(name="dbt-scratch", mount_path=SCRATCH_MOUNT),
            *self.extra_volume_mounts,
        ]

    def operator_args(self, project_name: str) -> dict[str, Any]:
        """Keyword arguments for every Cosmos Kubernetes dbt operator of one project (DAG parse: no
        connection is read; :meth:`connection_env` adds the profile when the task runs).

        :param project_name: the dbt project's name (its directory under ``/opt/dbt/projects``)
        """
        env = {
            "DBT_PROJECT_DIR": f"{PROJECTS_MOUNT}/{project_name}",
            "DBT_PROFILES_DIR": PROFILES_DIR,
            "DBT_TARGET_PATH": f"{SCRATCH_DIR}/target",
            "DBT_LOG_PATH": f"{SCRATCH_DIR}/logs",
            "DBT_PACKAGES_DIR": f"{STATE_MOUNT}/packages/{project_name}",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "HOME": SCRATCH_MOUNT,  # nothing else is writable
            **self.env,
        }
        return {
            "image": self.image,
            "image_pull_policy": self.image_pull_policy,
            "namespace": self.namespace,
            "service_account_name": self.service_account_name,
            "cmds": ["/bin/sh", "-c", POD_SCRIPT, "dbt-spark-pod"],
            "env_vars": [k8s.V1EnvVar(name=k, value=v) for k, v in env.items()],
            "secrets": [],
            "volumes": self.volumes(),
            "volume_mounts": self.volume_mounts(),
            "container_resources": self.resources,
            "security_context": k8s.V1PodSecurityContext(
                run_as_non_root=True,
                run_as_user=self.run_as_user,
                run_as_group=self.run_as_user,
                fs_group=self.run_as_user,
                seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
            ),
            "container_security_context": hardened_container(),
            # KubernetesPodOperator adds this container when the task pushes XCom (the nine operators).
            "xcom_sidecar_container_security_context": hardened_container(),
            "labels": {
                "app.kubernetes.io/managed-by": "dbt-spark-operator",
                "dbt-project": label_value(project_name),
                **self.labels,
            },
            "get_logs": True,
            "on_finish_action": "delete_pod",
            "startup_timeout_seconds": self.startup_timeout_seconds,
        }

    def connection_env(
        self, profile_yaml: str, password_env_var: str | None
    ) -> tuple[k8s.V1EnvVar, list[Secret]]:
        """What a task adds to its pod when it runs: the rendered profile (secrets only as ``env_var()``
        references) and, when the connection has a password, the Secret reference that carries it.

        :param profile_yaml: the rendered profile
        :param password_env_var: the variable the profile reads the password from; None without one
        """
        secrets = []
        if password_env_var:
            if self.password_secret is None:
                raise DbtSparkOperatorError(
                    "the Kyuubi connection has a password: name the Kubernetes Secret that holds it, "
                    "PodSettings(password_secret=('secret-name', 'key'))"
                )
            name, key = self.password_secret
            secrets.append(Secret("env", password_env_var, name, key))  # type: ignore[no-untyped-call]
        return k8s.V1EnvVar(name=PROFILE_ENV, value=profile_yaml), secrets


def with_xcom_sidecar_image(pod: k8s.V1Pod, settings: PodSettings) -> k8s.V1Pod:
    """``pod`` with its XCom sidecar (if it has one) running ``settings.xcom_sidecar_image``, pulled as the
    dbt container is; unchanged when no image is set."""
    if settings.xcom_sidecar_image is None:
        return pod
    for container in pod.spec.containers:
        if container.name == PodDefaults.SIDECAR_CONTAINER_NAME:
            container.image = settings.xcom_sidecar_image
            container.image_pull_policy = settings.image_pull_policy
    return pod


def hardened_container() -> k8s.V1SecurityContext:
    """A container's security context as Pod Security "restricted" requires, root filesystem read-only."""
    return k8s.V1SecurityContext(
        allow_privilege_escalation=False,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        read_only_root_filesystem=True,
        run_as_non_root=True,
    )


def _volume(name: str, pvc: str | None, host_path: str, host_path_type: str) -> k8s.V1Volume:
    if pvc:
        return k8s.V1Volume(
            name=name, persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=pvc)
        )
    return k8s.V1Volume(name=name, host_path=k8s.V1HostPathVolumeSource(path=host_path, type=host_path_type))
