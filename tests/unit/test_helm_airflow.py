"""helm itself on helm-values/airflow.yaml: `helm lint` and `helm template` of tests/charts/airflow-contract
(what the Airflow chart 1.19.0 does with the values we set; the real chart is served by no registry
reachable here), then what the components will do with what helm rendered: git's fetch of the ref
git-sync takes from the rendered environment, where every image of the task pods comes from, that no
password is in any rendered argument or plain environment value. Every rendered pod against Pod Security
"restricted": tests/integration/test_rendered_pods.py."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_objects import containers, helm_binary, leaks, pod_specs
from helm_objects import render as helm_render

from helpers import K8S_VERSION, ROOT

CHART = ROOT / "tests" / "charts" / "airflow-contract"
VALUES = ROOT / "helm-values" / "airflow.yaml"
MINIKUBE = ROOT / "helm-values" / "airflow-minikube.yaml"


@pytest.fixture(scope="module")
def helm() -> str:
    return helm_binary()


def render(helm: str, *files: Path, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return helm_render("airflow-contract", "airflow", "airflow", *files, sets=sets)


@pytest.fixture(scope="module")
def rendered(helm) -> list[dict[str, Any]]:
    return render(helm, VALUES)


def test_the_airflow_values_render_into_strictly_valid_objects(rendered, helm):
    for doc in rendered:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert sorted(pod_specs(rendered)) == [
        "airflow-api-server",
        "airflow-dag-processor",
        "airflow-run-airflow-migrations",
        "airflow-scheduler",
        "airflow-statsd",
        "airflow-triggerer",
        "pod-template",
    ]  # no create-user Job: its arguments would carry the password
    for doc in render(helm, VALUES, MINIKUBE):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def leaves(values: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(values, dict) and values:
        return [p for key, value in values.items() for p in leaves(value, (*path, key))]
    return [path]


@pytest.mark.parametrize("name", ["airflow.yaml", "airflow-minikube.yaml"])
def test_every_key_the_values_set_is_a_key_of_the_chart(name):
    """The contract chart's values.yaml holds chart 1.19.0's defaults for what it reads: a key we set
    must be one of them, down to where the chart takes a free-form map or list (securityContexts.pod,
    env, extraVolumes...)."""
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    for path in leaves(yaml.safe_load((ROOT / "helm-values" / name).read_text())):
        node = defaults
        for depth, key in enumerate(path):
            assert isinstance(node, dict) and key in node, f"{'.'.join(path[: depth + 1])} is no chart key"
            node = node[key]
            if not (isinstance(node, dict) and node):
                break  # the chart takes whatever map, list or scalar is given here


# git-sync v4.4.2 (the chart's image) reads its flags from the environment: GITSYNC_<FLAG>, and for most
# flags the old GIT_SYNC_<FLAG> too; an empty variable counts as unset. Of the deprecated --branch and
# --rev, a branch wins while the rev is empty or HEAD ("setting --ref from deprecated --branch"), else a
# rev wins, else --ref (GITSYNC_REF, default HEAD). Its cmd/git-sync/main.go; the module proxy refuses
# k8s.io/git-sync here, so these rules are applied to the rendered environment and git does the fetch
# git-sync would do.
def env_of(env: dict[str, str], key: str, *old: str, default: str = "") -> str:
    return next((env[k] for k in (key, *old) if env.get(k)), default)


def git_sync_ref(env: dict[str, str]) -> str:
    branch, rev = env.get("GIT_SYNC_BRANCH", ""), env.get("GIT_SYNC_REV", "")
    if branch and rev in ("", "HEAD"):
        return branch
    if rev:
        return rev
    return env_of(env, "GITSYNC_REF", default="HEAD")


def git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd or Path.cwd())}
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=environment, timeout=60
    )


def git_sync_once(env: dict[str, str], root: Path) -> subprocess.CompletedProcess:
    """One sync as git-sync does it with this environment: fetch the ref into the root's repository,
    check the fetched commit out in a worktree, point the link at it."""
    assert env_of(env, "GITSYNC_ONE_TIME", "GIT_SYNC_ONE_TIME") == "true"
    root.mkdir(parents=True, exist_ok=True)
    assert git("init", "-q", cwd=root).returncode == 0
    depth = env_of(env, "GITSYNC_DEPTH", "GIT_SYNC_DEPTH", default="1")
    repo, ref = env_of(env, "GITSYNC_REPO", "GIT_SYNC_REPO"), git_sync_ref(env)
    fetch = git(
        "fetch",
        repo,
        ref,
        "--verbose",
        "--no-progress",
        "--prune",
        "--no-auto-gc",
        "--depth",
        depth,
        cwd=root,
    )
    if fetch.returncode != 0:
        return fetch
    commit = git("rev-parse", "FETCH_HEAD", cwd=root).stdout.strip()
    worktree = root / ".worktrees" / commit
    add = git("worktree", "add", "--force", "--detach", str(worktree), commit, cwd=root)
    assert add.returncode == 0, add.stderr
    (root / env_of(env, "GITSYNC_LINK", "GIT_SYNC_LINK")).symlink_to(worktree)
    return add


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """A bare repository with one branch, main, holding dags/pipeline.py."""
    work = tmp_path_factory.mktemp("work")
    assert git("init", "-q", "-b", "main", cwd=work).returncode == 0
    (work / "dags").mkdir()
    (work / "dags" / "pipeline.py").write_text("# a DAG file\n")
    git("add", "dags", cwd=work)
    commit = git(
        "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "dags", cwd=work
    )
    assert commit.returncode == 0, commit.stderr
    bare = tmp_path_factory.mktemp("remote") / "dags.git"
    assert git("clone", "-q", "--bare", str(work), str(bare)).returncode == 0
    assert git("branch", "--list", cwd=bare).stdout.split() == ["*", "main"]
    return bare


def git_sync_envs(docs: list[dict[str, Any]], repo: Path) -> dict[str, dict[str, str]]:
    """The environment of every one-time git-sync container (the init containers), by pod, with the
    repository pointed at ``repo``."""
    envs = {}
    for name, spec in pod_specs(docs).items():
        for container in spec.get("initContainers", []):
            if container["name"] == "git-sync-init":
                env = {e["name"]: e["value"] for e in container["env"]}
                envs[name] = {**env, "GITSYNC_REPO": str(repo), "GIT_SYNC_REPO": str(repo)}
    return envs


def test_git_sync_checks_out_the_configured_branch(rendered, repository, tmp_path):
    envs = git_sync_envs(rendered, repository)
    assert sorted(envs) == ["airflow-dag-processor", "airflow-triggerer", "pod-template"]
    for name, env in envs.items():
        root = tmp_path / name
        sync = git_sync_once(env, root)
        assert sync.returncode == 0, (name, sync.stderr)
        subpath = yaml.safe_load(VALUES.read_text())["dags"]["gitSync"]["subPath"]
        assert (root / env["GITSYNC_LINK"] / subpath / "pipeline.py").read_text() == "# a DAG file\n"


def test_git_sync_with_only_ref_set_fails_on_the_charts_default_branch(helm, repository, tmp_path):
    """The values as they were (`ref: main` alone): the chart still writes GIT_SYNC_BRANCH=v2-2-stable
    and GIT_SYNC_REV=HEAD, and git-sync fetches v2-2-stable."""
    values = yaml.safe_load(VALUES.read_text())
    for key in ("branch", "rev"):
        del values["dags"]["gitSync"][key]
    old = tmp_path / "airflow.yaml"
    old.write_text(yaml.safe_dump(values))
    envs = git_sync_envs(render(helm, old), repository)
    assert envs and {git_sync_ref(env) for env in envs.values()} == {"v2-2-stable"}
    for name, env in envs.items():
        sync = git_sync_once(env, tmp_path / name)
        assert sync.returncode != 0
        assert "couldn't find remote ref v2-2-stable" in sync.stderr


def test_every_airflow_image_follows_the_default_repository_and_tag(helm):
    """docs/production.md: your registry is defaultAirflowRepository and defaultAirflowTag: the pods,
    the Jobs, the executor's worker image and the pod template all take it, with the same pull policy."""
    docs = render(
        helm,
        VALUES,
        sets=("defaultAirflowRepository=registry.example.com/airflow-dbt-spark", "defaultAirflowTag=1.4.2"),
    )
    wanted = "registry.example.com/airflow-dbt-spark:1.4.2"
    for name, spec in pod_specs(docs).items():
        for container in containers(spec):
            if container["name"] in ("statsd", "git-sync", "git-sync-init"):
                continue
            assert (container["image"], container["imagePullPolicy"]) == (wanted, "IfNotPresent"), name
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    cfg = dict(re.findall(r"^(\w+) = (.*)$", config["data"]["airflow.cfg"], re.M))
    assert f"{cfg['worker_container_repository']}:{cfg['worker_container_tag']}" == wanted


def test_the_pod_template_kept_pull_policy_never_when_only_images_airflow_was_set(helm, tmp_path):
    """What the values once did (both images with pullPolicy Never, the docs saying to set
    images.airflow): the task pods kept Never and could not pull from the registry."""
    old = tmp_path / "images.yaml"
    old.write_text(
        yaml.safe_dump(
            {
                "images": {
                    "airflow": {
                        "repository": "registry.example.com/a",
                        "tag": "1",
                        "pullPolicy": "IfNotPresent",
                    },
                    "pod_template": {
                        "repository": "airflow-dbt-spark",
                        "tag": "latest",
                        "pullPolicy": "Never",
                    },
                }
            }
        )
    )
    template = pod_specs(render(helm, VALUES, old))["pod-template"]
    assert template["containers"][0]["imagePullPolicy"] == "Never"


def test_no_password_in_any_rendered_argument_or_environment_value(rendered):
    assert leaks(rendered) == []
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for spec in pod_specs(rendered).values()
        for c in containers(spec)
        for e in c.get("env", [])
        if "valueFrom" in e
    }
    assert secrets["AIRFLOW_CONN_KYUUBI_DEFAULT"] == {"name": "kyuubi-connection", "key": "connection"}
    assert secrets["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]["name"] == "airflow-metadata"


def test_the_charts_first_user_job_puts_its_password_in_the_arguments(helm, tmp_path):
    """Why createUserJob is off: with the chart's default the Job's arguments end in `-p admin`."""
    values = yaml.safe_load(VALUES.read_text())
    del values["createUserJob"]
    old = tmp_path / "airflow.yaml"
    old.write_text(yaml.safe_dump(values))
    docs = render(helm, old)
    assert "airflow-create-user" in pod_specs(docs)
    assert "airflow-create-user/create-user: argument '-p' ['admin']" in leaks(docs)


def test_task_logs_live_on_a_claim_every_airflow_pod_mounts(rendered):
    (claim,) = [d for d in rendered if d["kind"] == "PersistentVolumeClaim"]
    assert claim["metadata"]["name"] == "airflow-logs" and claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for name, spec in pod_specs(rendered).items():
        if name in ("airflow-statsd", "airflow-run-airflow-migrations"):
            continue
        (logs,) = [v for v in spec["volumes"] if v["name"] == "logs"]
        assert logs == {"name": "logs", "persistentVolumeClaim": {"claimName": "airflow-logs"}}, name
        main = spec["containers"][0]
        assert {"name": "logs", "mountPath": "/opt/airflow/logs"} in main["volumeMounts"], name
