"""A user's own dbt project (tests/dbt_projects/shop: profile ``warehouse``, a local package, a seed, a
model with tests), pointed at by path: manifested without any profile of the user's, rendered in both
executions, run in local execution against the engine."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from decimal import Decimal

import kubernetes_validate
import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag

from dbt_spark_operator import dbt_asset
from dbt_spark_operator.project.paths import packages_dir
from dbt_spark_operator.runtime.rendered_pod import pod_body, render_pod
from helpers import K8S_VERSION, ROOT, cli, dags_test, query

SHOP = ROOT / "tests" / "dbt_projects" / "shop"
DAGS = ROOT / "tests" / "user_dags"


@pytest.fixture(scope="module")
def shop_manifest(tmp_path_factory):
    """``dbt-spark-operator manifest PATH`` with no profiles.yml anywhere dbt would look."""
    for built in (SHOP / "target", packages_dir("shop")):
        shutil.rmtree(built, ignore_errors=True)
    empty = tmp_path_factory.mktemp("no-profiles")
    proc = cli("manifest", str(SHOP), env={**os.environ, "DBT_PROFILES_DIR": str(empty), "HOME": str(empty)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == str(SHOP / "target" / "manifest.json")
    return json.loads((SHOP / "target" / "manifest.json").read_text())


def test_manifest_needs_no_profile_of_the_users(shop_manifest):
    assert shop_manifest["metadata"]["project_name"] == "shop"
    kinds = sorted(node["resource_type"] for node in shop_manifest["nodes"].values())
    assert kinds == ["model", "seed", "test", "test", "test", "test"]
    # The local package was installed (dbt deps) and its macro resolved in the model.
    assert (packages_dir("shop") / "shop_utils" / "dbt_project.yml").is_file()
    model = shop_manifest["nodes"]["model.shop.shop_prices"]
    assert model["depends_on"]["macros"] == ["macro.shop_utils.cents_to_euros"]


def test_a_broken_project_is_one_clear_line(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(SHOP, broken, ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copytree(SHOP.parent / "shop_utils", tmp_path / "shop_utils")  # its local package
    (broken / "models" / "bad.sql").write_text("select * from {{ ref('no_such_model') }}")
    proc = cli("manifest", str(broken))
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"dbt-spark-operator: error: dbt parse of {broken} failed: ")
    assert "no_such_model" in line


@pytest.mark.parametrize("execution", ["kubernetes", "local"])
def test_the_dag_renders_in_both_executions(shop_manifest, execution, monkeypatch, airflow_db):
    monkeypatch.setenv("DBT_SPARK_EXECUTION", execution)
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    dag = bag.dags["shop"]
    tests = {n["name"] for n in shop_manifest["nodes"].values() if n["resource_type"] == "test"}
    assert set(dag.task_dict) == {
        "dbt_deps",
        "shop.shop_products_seed",  # a seed without tests is a task, not a group
        "shop.shop_prices.run",
        *(f"shop.shop_prices.{name}" for name in tests),
    }
    for task in dag.tasks:
        profile = task.dbt_setup.profile
        assert (profile.profile_name, profile.target_name) == ("warehouse", "kyuubi")
    # Assets in the schema the DAG names (profile_args), not the one the manifest was parsed with.
    prices, products = (
        dbt_asset(SHOP, "shop_prices", schema="shop"),
        dbt_asset(SHOP, "shop_products", schema="shop"),
    )
    assert prices.uri == "kyuubi://kyuubi_default/shop/shop_prices"
    assert dag.task_dict["shop.shop_prices.run"].outlets == [prices]
    assert dag.task_dict["shop.shop_prices.run"].inlets == [products]
    assert dag.task_dict["shop.shop_products_seed"].outlets == [products]
    if execution == "local":
        return
    for task in dag.tasks:  # each pod as a worker builds it, with the connection of this session
        pod = pod_body(render_pod(task))
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["DBT_PROJECT_DIR"] == "/opt/dbt/projects/shop"
        assert env["DBT_PACKAGES_DIR"] == "/opt/dbt/state/packages/shop"
        profile = yaml.safe_load(env["DBT_SPARK_PROFILE_YAML"])
        assert list(profile) == ["warehouse"]
        if task.task_id != "dbt_deps":
            assert profile["warehouse"]["outputs"]["kyuubi"]["schema"] == "shop"


def test_the_dag_runs_in_local_execution_against_the_engine(shop_manifest, engine, airflow_db):
    proc, _ = dags_test("shop", DAGS, DBT_SPARK_EXECUTION="local")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    from dbt_spark_operator.dev.demo import task_summary

    state, tasks = task_summary("shop")
    assert state == "success" and len(tasks) == 7
    assert {s for _, s, _ in tasks} == {"success"}
    # One asset event per written relation, with what dbt reported: the relation its asset names.
    with sqlite3.connect(airflow_db / "airflow.db") as db:
        rows = db.execute(
            "SELECT a.uri, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id"
            " WHERE e.source_dag_id = 'shop'"
        ).fetchall()
    extras = {uri: json.loads(extra) for uri, extra in rows}
    assert set(extras) == {
        "kyuubi://kyuubi_default/shop/shop_prices",
        "kyuubi://kyuubi_default/shop/shop_products",
    }
    assert {e["status"] for e in extras.values()} == {"success"}
    assert extras["kyuubi://kyuubi_default/shop/shop_prices"]["relation"] == "shop.shop_prices"
    assert extras["kyuubi://kyuubi_default/shop/shop_products"]["rows_affected"] == 3  # the seed's rows
    assert "dbt wrote" not in proc.stdout + proc.stderr
    assert query("SELECT * FROM shop.shop_prices ORDER BY product_id") == [
        (1, "Kettle", Decimal("24.99")),
        (2, "Teapot", Decimal("18.50")),
        (3, "Mug", Decimal("6.50")),
    ]
