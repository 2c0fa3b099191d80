"""The development Kubernetes cluster (``make cluster``: tools/cluster/up) as ``make demo-k8s``, the
cluster tests and the benchmarks use it: where it is, a client for it, and what dbt pods need in it
beside the objects tools/cluster/up creates (the projects on their volume, the password's Secret, a
local engine the pods reach, the Airflow environment that runs tasks as pods there).

The cluster is reachable only from inside its network namespace: run these tools through
``tools/cluster/exec`` (which sets ``DBT_SPARK_CLUSTER_DIR`` and ``KUBECONFIG``).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt_spark_operator.dev import checkout
from dbt_spark_operator.errors import DbtSparkOperatorError

CLUSTER_DIR_ENV = "DBT_SPARK_CLUSTER_DIR"
PASSWORD_SECRET = ("kyuubi-credentials", "password")  # what the sample DAGs' PodSettings name
DBT_UID = 10001  # the dbt-spark image's user (image/Dockerfile)


@dataclass(frozen=True)
class DevCluster:
    """A running development cluster, as tools/cluster/up described it in ``cluster.json``."""

    directory: Path
    node_ip: str
    namespace: str
    images: dict[str, str] = field(default_factory=dict)  # role (dbt, xcom_sidecar, pause) -> name

    @classmethod
    def running(cls, directory: Path | None = None) -> DevCluster:
        """The cluster of ``directory`` (default ``$DBT_SPARK_CLUSTER_DIR``, else the checkout's
        .cluster), or one clear error when it is not up or this process is outside its network."""
        where = directory or Path(os.environ.get(CLUSTER_DIR_ENV) or checkout() / ".cluster")
        info = where / "cluster.json"
        if not info.is_file() or not (where / "run" / "holder.pid").is_file():
            raise DbtSparkOperatorError(f"no development cluster in {where}: start it with make cluster")
        data = json.loads(info.read_text())
        if CLUSTER_DIR_ENV not in os.environ:
            raise DbtSparkOperatorError(
                "the development cluster is reachable only inside its network namespace: "
                "run this through tools/cluster/exec"
            )
        return cls(where, data["node_ip"], data["namespace"], dict(data["images"]))

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def projects_volume(self) -> Path:
        """The node directory behind the ``dbt-projects`` PersistentVolume (read-only in every pod)."""
        return self.directory / "volumes" / "projects"

    @property
    def state_volume(self) -> Path:
        """The node directory behind the ``dbt-state`` PersistentVolume (packages, docs)."""
        return self.directory / "volumes" / "state"

    def core(self) -> Any:
        """A ``kubernetes.client.CoreV1Api`` for this cluster, as its admin."""
        from kubernetes import client, config

        return client.CoreV1Api(config.new_client_from_config(config_file=str(self.kubeconfig)))

    def publish_projects(self, *sources: Path) -> list[Path]:
        """Fill the projects volume as production does: ``dbt-spark-operator bundle`` of each projects
        directory (default: the checkout's dbt/; fresh manifests), readable by the image's user. The
        state volume is emptied too (packages and docs of an earlier run), owned by that user. Returns
        the manifests."""
        from dbt_spark_operator.project.paths import bundle

        for volume in (self.projects_volume, self.state_volume):
            for child in volume.iterdir() if volume.is_dir() else ():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        manifests = [
            m for source in sources or (checkout() / "dbt",) for m in bundle(source, self.projects_volume)
        ]
        for path in [self.projects_volume, *self.projects_volume.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        self.state_volume.mkdir(parents=True, exist_ok=True)
        os.chown(self.state_volume, DBT_UID, DBT_UID)
        return manifests

    def put_secret(self, name: str, data: dict[str, str]) -> None:
        """Create or replace the Secret ``name`` in the dbt pods' namespace (values never logged)."""
        from kubernetes.client import V1ObjectMeta, V1Secret
        from kubernetes.client.exceptions import ApiException

        core = self.core()
        body = V1Secret(metadata=V1ObjectMeta(name=name), string_data=data, type="Opaque")
        try:
            core.replace_namespaced_secret(name, self.namespace, body)
        except ApiException as exc:
            if exc.status != 404:
                raise
            core.create_namespaced_secret(self.namespace, body)

    def airflow_env(self) -> dict[str, str]:
        """What an Airflow that runs dbt tasks as pods here needs: the kubeconfig, Kubernetes execution,
        the local XCom sidecar image."""
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "DBT_SPARK_EXECUTION": "kubernetes",
            "DBT_SPARK_XCOM_SIDECAR_IMAGE": self.images["xcom_sidecar"],
        }

    def kyuubi_connection(self, port: int, login: str, password: str | None) -> dict[str, Any]:
        """The ``kyuubi_default`` connection of the DAGs: the engine on the node's address, which the
        pods reach through the pod network's gateway and the worker directly."""
        conn: dict[str, Any] = {
            "conn_type": "kyuubi",
            "host": self.node_ip,
            "port": port,
            "login": login,
            "schema": "default",
        }
        if password is not None:
            conn["password"] = password
            conn["extra"] = json.dumps({"auth": "LDAP"})
        return conn
