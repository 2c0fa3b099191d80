"""Airflow as users see it: a real Airflow 3 (scheduler, dag-processor, triggerer, api-server with
LocalExecutor) on PostgreSQL, the project's DAGs in local execution against the secure engine (LDAP
logins, thrift over TLS: the connection has auth LDAP, the service user's password and use_ssl), and
the UI in headless Chromium (Debian's, driven by Playwright).

The tests run in file order against one stack: the graph, a rerun through the REST API, a rerun through
the UI, a user's DAG importing a subset, two runs at once, the dbt docs behind the login, connections
the engine turns away, then the scan for every password.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg2
import pytest

from dbt_spark_operator.dev.airflow_stack import AirflowStack
from helpers import (
    EXPECTED_SIMPLE_PIPELINE,
    PROJECT,
    ROOT,
    SESSION_DIR,
    kyuubi_connection,
    running_stack,
    secure_query,
)
from restricted_auth_manager import OUTSIDER

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / ".artifacts" / "ui"
DAG_ID = "simple_model_test"
# Connections the engine must refuse (tests/stack_dags/refused_logins.py): login, password, TLS.
REFUSED = {
    "wrong_password": ("etl", "Wr0ng-Integr4tion-Pass!", True),
    "unknown_user": ("ghost", "Gh0st-Integr4tion-Pass!", True),
    "no_password": ("etl", None, True),
    "plain_client": ("etl", "service", False),  # the right password, without TLS
}


def manifest_nodes() -> dict[str, dict]:
    return json.loads((PROJECT / "target" / "manifest.json").read_text())["nodes"]


@pytest.fixture(scope="module")
def connections(secure_engine) -> dict[str, dict]:
    """The stack's Kyuubi connections: ``kyuubi_default`` (the service user, its password, TLS) and one
    per case of :data:`REFUSED`."""
    user, password = secure_engine.config.ldap.service_user()

    def connection(login: str, secret: str | None, tls: bool) -> dict:
        return {
            "conn_type": "kyuubi",
            "host": "127.0.0.1",
            "port": secure_engine.config.port,
            "login": login,
            **({"password": password if secret == "service" else secret} if secret else {}),
            "schema": "default",
            "extra": {"auth": "LDAP", "use_ssl": tls},
        }

    return {
        "kyuubi_default": connection(user, "service", True),
        **{f"kyuubi_{case}": connection(*fields) for case, fields in REFUSED.items()},
    }


def passwords(connections: dict[str, dict]) -> set[str]:
    return {c["password"] for c in connections.values() if c.get("password")}


@pytest.fixture(scope="module")
def stack(connections) -> Iterator[AirflowStack]:
    for need, how in ((CHROMIUM, "apt-get install chromium"), (Path("/usr/lib/postgresql"), "postgresql")):
        assert need.exists(), f"{need} missing: {how} (.ci/run installs it)"
    dag_files = [
        *(ROOT / "dags").glob("*.py"),
        ROOT / "tests" / "integration_dags" / "imported_marts.py",
        ROOT / "tests" / "stack_dags" / "refused_logins.py",
    ]
    env = {
        # An auth manager with a user who may read no DAG (SimpleAuthManager otherwise): the docs check.
        "AIRFLOW__CORE__AUTH_MANAGER": "restricted_auth_manager.OutsiderAuthManager",
        "PYTHONPATH": str(ROOT / "tests"),
    }
    with running_stack("airflow-stack", dag_files, connections, env, users={OUTSIDER: "admin"}) as airflow:
        yield airflow


@pytest.fixture(scope="module")
def first_run(stack: AirflowStack) -> str:
    """One manual run of the sample DAG through the REST API; the tests below start from it."""
    stack.wait_for_dag(DAG_ID)
    started = time.monotonic()
    run_id = stack.trigger(DAG_ID, "first")
    run = stack.wait_for_run(DAG_ID, run_id)
    print(f"first run of {DAG_ID}: {run['state']} in {time.monotonic() - started:.0f} s")
    assert run["state"] == "success", stack.failures(DAG_ID, run_id)
    return run_id


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _login(browser, stack: AirflowStack, user: str = "admin"):
    page = browser.new_page(viewport={"width": 2200, "height": 1400})
    page.goto(f"{stack.api}/")
    page.get_by_label(re.compile("username", re.I)).fill(user)
    page.get_by_label(re.compile("password", re.I)).fill(stack.passwords[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{stack.api}/")
    return page


@pytest.fixture(scope="module")
def sql(secure_engine) -> Callable[[str], list[tuple]]:
    """Run a statement on the stack's engine (as its service user, over TLS)."""
    return lambda statement: secure_query(secure_engine, statement)


def _last_commit(sql: Callable[[str], list[tuple]], table: str) -> str:
    """When the Iceberg table was last written (its newest snapshot)."""
    return str(sql(f"SELECT max(committed_at) FROM default.{table}.snapshots")[0][0])


def test_metadata_lives_in_postgres_not_sqlite(stack, first_run):
    assert stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    url = stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg2.connect(url) as db, db.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM task_instance WHERE dag_id = %s AND run_id = %s", (DAG_ID, first_run)
        )
        assert cur.fetchone()[0] == len(stack.task_instances(DAG_ID, first_run)) > 30
    # The write-up's "no such table: dag": no task process fell back to a SQLite file.
    assert not list(stack.home.rglob("*.db"))
    # Task processes were forked from the warm executor, which imported dbt before starting workers.
    assert "preloaded dbt for local tasks" in (stack.home / "scheduler.log").read_text(errors="replace")


def test_graph_view_shows_every_dbt_node(stack, first_run, browser):
    page = _login(browser, stack)
    page.goto(f"{stack.api}/dags/{DAG_ID}")
    page.get_by_role("button", name=re.compile("Show Graph")).click()
    page.get_by_role("button", name="Expand all task groups").click()
    page.locator('.react-flow__node[data-id="analytics.simple_pipeline.run"]').wait_for()
    page.get_by_role("button", name="Collapse Details Panel").click()  # the whole width for the graph
    page.locator(".react-flow__controls-fitview").click()
    page.wait_for_timeout(1000)  # the fit's animation
    shown = set(page.locator(".react-flow__node").evaluate_all("nodes => nodes.map(n => n.dataset.id)"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / f"{DAG_ID}-graph.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"graph screenshot: {screenshot}")
    page.close()

    nodes = manifest_nodes()
    expected = set()
    for node in nodes.values():
        name, kind = node["name"], node["resource_type"]
        if kind == "model":
            expected.add(f"analytics.{name}.run")
        elif kind == "seed":
            expected.add(f"analytics.{name}.seed")
        elif kind == "snapshot":
            expected.add(f"analytics.{name}_snapshot")
        elif kind == "test":
            parents = node["depends_on"]["nodes"]
            if len(parents) > 1:
                expected.add(f"analytics.{name}_test")
            else:
                parent = parents[0].split(".", 2)[2].replace(".", "_")  # a model, seed or source
                expected.add(f"analytics.{parent}.{name}")
    kinds = ("model", "seed", "snapshot", "test")
    assert len(expected) == len([n for n in nodes.values() if n["resource_type"] in kinds]) == 33
    assert expected <= shown, sorted(expected - shown)


def test_rerun_one_model_through_the_rest_api(stack, first_run, sql):
    task_id = "analytics.simple_pipeline.run"
    before, built = stack.tries(DAG_ID, first_run), _last_commit(sql, "simple_pipeline")
    stack.clear(DAG_ID, first_run, [task_id])
    run = stack.wait_for_rerun(DAG_ID, first_run, task_id, before)
    assert run["state"] == "success"
    after = stack.tries(DAG_ID, first_run)
    print(f"REST clear of {task_id}: try {before[task_id]} -> {after[task_id]}")
    assert {t for t in after if after[t] != before[t]} == {task_id}
    assert after[task_id] == before[task_id] + 1
    assert _last_commit(sql, "simple_pipeline") > built  # the table was rebuilt
    assert sql("SELECT * FROM simple_pipeline ORDER BY id") == EXPECTED_SIMPLE_PIPELINE


def test_rerun_a_model_and_its_tests_through_the_ui(stack, first_run, browser, sql):
    task_id = "analytics.department_summary.run"
    tests = {
        f"analytics.department_summary.{n['name']}"
        for n in manifest_nodes().values()
        if n["resource_type"] == "test" and n["depends_on"]["nodes"] == ["model.analytics.department_summary"]
    }
    before, built = stack.tries(DAG_ID, first_run), _last_commit(sql, "department_summary")
    page = _login(browser, stack)
    page.goto(f"{stack.api}/dags/{DAG_ID}/runs/{first_run}/tasks/{task_id}")
    page.get_by_role("button", name="Press shift+c to clear").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(task_id, exact=True).wait_for()
    listed = set(re.findall(r"analytics\.[\w.]+", dialog.inner_text()))
    assert listed == {task_id, *tests}  # the UI's default: the task and its downstream, its tests
    dialog.get_by_role("button", name="Confirm").click()
    dialog.wait_for(state="hidden")
    page.close()

    run = stack.wait_for_rerun(DAG_ID, first_run, task_id, before)
    assert run["state"] == "success"
    after = stack.tries(DAG_ID, first_run)
    print(f"UI clear of {task_id}: try {before[task_id]} -> {after[task_id]}, and its {len(tests)} tests")
    assert {t for t in after if after[t] != before[t]} == {task_id, *tests}
    assert all(after[t] == before[t] + 1 for t in (task_id, *tests))
    assert _last_commit(sql, "department_summary") > built


def test_imported_task_group_runs_exactly_its_subset_on_schedule(stack, first_run):
    stack.wait_for_dag("imported_marts")
    stack.request("PATCH", "/dags/imported_marts", json={"is_paused": False})
    deadline = time.monotonic() + 120
    runs: list = []
    while not runs and time.monotonic() < deadline:
        runs = stack.request("GET", "/dags/imported_marts/dagRuns")["dag_runs"]
        time.sleep(2)
    assert runs, "the scheduler created no run"
    (run,) = runs
    assert run["run_type"] == "scheduled"
    run = stack.wait_for_run("imported_marts", run["dag_run_id"])
    tasks = stack.task_instances("imported_marts", run["dag_run_id"])
    assert run["state"] == "success", {t: ti["state"] for t, ti in tasks.items()}
    assert {ti["state"] for ti in tasks.values()} == {"success"}

    nodes = manifest_nodes()
    marts = {
        uid
        for uid, n in nodes.items()
        if n["resource_type"] == "model" and n["original_file_path"].startswith("models/marts/")
    }
    ran = {ti["task_id"] for ti in tasks.values()}
    assert {t for t in ran if t.endswith(".run")} == {f"marts.{nodes[uid]['name']}.run" for uid in marts}
    marts_tests = {
        n["name"]
        for n in nodes.values()
        if n["resource_type"] == "test" and set(n["depends_on"]["nodes"]) & marts
    }
    assert len(ran) == 2 + len(marts) + len(marts_tests)
    assert {"extract", "notify"} <= ran


def test_two_runs_at_once_queue_and_leave_the_tables_intact(stack, first_run, sql):
    runs = [stack.trigger(DAG_ID, f"concurrent-{i}") for i in (1, 2)]
    done = [stack.wait_for_run(DAG_ID, run_id) for run_id in runs]
    assert [r["state"] for r in done] == ["success", "success"], [stack.failures(DAG_ID, r) for r in runs]
    first, second = sorted(done, key=lambda r: r["start_date"])
    assert second["start_date"] >= first["end_date"]  # max_active_runs=1: one after the other
    assert sql("SELECT * FROM simple_pipeline ORDER BY id") == EXPECTED_SIMPLE_PIPELINE
    assert sql("SELECT count(*), count(DISTINCT event_id) FROM fct_employee_events") == [(7, 7)]


def test_dbt_docs_only_for_users_allowed_to_read_the_dags(
    stack, first_run, browser, connections, monkeypatch
):
    """The docs page asks Airflow who the caller is (the UI's cookie or a bearer token) and whether its
    auth manager lets that user read the DAG whose docs task wrote the site."""
    from datetime import datetime

    from airflow.sdk import DAG

    from dbt_spark_operator import DbtSparkDocsOperator
    from dbt_spark_operator.runtime.rendered_pod import task_context

    fields = {k: v for k, v in connections["kyuubi_default"].items() if k != "conn_type"}
    monkeypatch.setenv(*kyuubi_connection(**fields))  # this process generates the docs, as a task would
    with DAG(DAG_ID, schedule=None, start_date=datetime(2025, 1, 1)):  # the docs task of that DAG
        docs = DbtSparkDocsOperator(task_id="dbt_docs_generate", project="analytics", execution="local")
    context = task_context(docs)
    docs.render_template_fields(context)
    assert docs.execute(context)["failed"] == []
    site = f"{stack.api}/dbt-docs/analytics"
    files = ("/", "/index.html", "/manifest.json", "/catalog.json")

    page = _login(browser, stack)  # an admin: the site renders, with the model's columns
    for name in files:
        assert page.request.get(site + name).status == 200, name
    assert "analytics" in page.request.get(f"{stack.api}/dbt-docs/").text()
    page.goto(f"{site}/#!/model/model.analytics.simple_pipeline")
    # The model page's column table, with types from catalog.json (fetched by the page with the cookie).
    page.wait_for_function(
        "() => /COLUMN\\s+TYPE[\\s\\S]*career_stage\\s+string/.test(document.body.innerText)", timeout=60_000
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dbt-docs-simple_pipeline.png"))
    # Inside the Airflow UI: the menu's page frames the docs index with the same login.
    page.goto(f"{stack.api}/plugin/dbt-docs")
    frame = page.frame_locator("iframe").first
    frame.get_by_role("link", name="analytics").wait_for(timeout=60_000)
    page.close()

    anonymous = browser.new_page()  # logged out: no cookie, no token
    for name in files:
        assert anonymous.request.get(site + name).status == 401, name
    anonymous.close()
    forged = httpx.get(f"{site}/manifest.json", headers={"Authorization": "Bearer forged.jwt.token"})
    assert forged.status_code in (401, 403) and "nodes" not in forged.text

    outsider = _login(browser, stack, OUTSIDER)  # signed in, but may read no DAG
    for name in files:
        assert outsider.request.get(site + name).status == 403, name
    assert "No dbt docs yet" in outsider.request.get(f"{stack.api}/dbt-docs/").text()
    outsider.close()


def _strings(value: object) -> Iterator[str]:
    """Every string in a decoded JSON log entry."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_connections_the_engine_turns_away_fail_their_first_task_at_once(stack, first_run, connections):
    """A wrong password, an unknown user, no password, a client without TLS: each run's first task fails
    with one line naming the cause, before dbt starts, and nothing downstream runs. dbt alone would
    retry each as a network error (connect_retries 5 x connect_timeout 60 s, retry_all)."""
    port = connections["kyuubi_default"]["port"]
    causes = {
        case: f"login refused: authentication failed for user '{login}' (auth LDAP) at 127.0.0.1:{port}: "
        "Bad status: 3 (b'Error validating the login'); not retried"
        for case, (login, _, tls) in REFUSED.items()
        if tls
    }
    causes["plain_client"] = (
        f'the server at 127.0.0.1:{port} speaks TLS and this connection does not: set "use_ssl": true '
        "in the connection's extra; not retried"
    )
    for case in REFUSED:
        stack.wait_for_dag(f"refused_{case}")
    runs = {case: stack.trigger(f"refused_{case}", "refused") for case in REFUSED}
    for case, run_id in runs.items():
        dag_id = f"refused_{case}"
        run = stack.wait_for_run(dag_id, run_id, timeout=300)
        tasks = stack.task_instances(dag_id, run_id)
        assert run["state"] == "failed", case
        assert tasks["dbt_deps"]["state"] == "failed" and tasks["dbt_deps"]["try_number"] == 1, case
        assert {ti["state"] for t, ti in tasks.items() if t != "dbt_deps"} == {"upstream_failed"}, case
        assert tasks["dbt_deps"]["duration"] < 30, (case, tasks["dbt_deps"]["duration"])
        logs = stack.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        log = logs / "task_id=dbt_deps" / "attempt=1.log"
        texts = [t for line in log.read_text().splitlines() for t in _strings(json.loads(line))]
        line = f"Kyuubi connection 'kyuubi_{case}' {causes[case]}"
        assert any(line in text for text in texts), (case, log.read_text()[-2000:])
        assert "Running the pod's command" not in log.read_text()  # no dbt ran


def test_no_password_is_in_any_log_xcom_rendered_field_or_file(stack, first_run, connections):
    """After every run above (successes, reruns, refusals): the passwords of all the connections, right
    and wrong, are in no file of the Airflow home or the shared state, and in no table of the metadata
    database but the connection table."""
    secrets_ = passwords(connections)
    assert len(secrets_) == 3  # the service user's, a wrong one, the unknown user's
    files = [p for p in [*stack.home.rglob("*"), *SESSION_DIR.joinpath("state").rglob("*")] if p.is_file()]
    assert any("task_id=analytics.simple_pipeline.run" in str(p) for p in files)  # the task logs
    assert any("dag_id=refused_wrong_password" in str(p) for p in files)
    assert [(p, s) for p in files for s in secrets_ if s.encode() in p.read_bytes()] == []
    url = stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg2.connect(url) as db, db.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [t for (t,) in cur.fetchall() if t != "connection"]  # the connection is where it belongs
        assert {"xcom", "rendered_task_instance_fields", "log", "task_instance"} <= set(tables)
        for table in tables:
            for secret in secrets_:
                cur.execute(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE %s', (f"%{secret}%",))
                assert cur.fetchone()[0] == 0, table
