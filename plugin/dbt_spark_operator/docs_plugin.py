"""An Airflow 3 plugin serving the dbt docs sites the docs task generated: ``/dbt-docs/<project>/``.

The sites live in the shared state directory (``DBT_SPARK_STATE_DIR``, in a cluster the state volume
mounted into the API server); the Airflow UI links them under "dbt docs".

Only to a user Airflow knows: the same JWT the UI and the REST API use (the UI's session cookie, or an
``Authorization: Bearer`` header) identifies the user, and Airflow's auth manager decides: a project's
site (index.html, manifest.json, catalog.json) is served to a user it allows to read (GET) one of the
DAGs whose docs task wrote that site. Each docs task records its DAG beside the site (``.dags/<dag_id>``).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Annotated, Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dbt_spark_operator import compat
from dbt_spark_operator.project.paths import state_dir

SITE_FILES = ("index.html", "manifest.json", "catalog.json")
DAGS_DIR = ".dags"  # beside a site: one empty file per DAG whose docs task wrote it
_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
app = FastAPI(title="dbt docs", docs_url=None, redoc_url=None, openapi_url=None)


def site_dags(project: str) -> set[str]:
    """The DAGs whose docs task wrote ``project``'s site."""
    folder = state_dir() / "docs" / project / DAGS_DIR
    return {p.name for p in folder.iterdir() if _DAG_ID.match(p.name)} if folder.is_dir() else set()


def readable_projects(user: Any) -> list[str]:
    """The projects with a generated site that Airflow's auth manager lets ``user`` read."""
    root = state_dir() / "docs"
    sites = sorted(p.name for p in root.glob("*") if (p / "index.html").is_file()) if root.is_dir() else []
    readable = []
    for project in sites:
        dags = site_dags(project)
        if dags and compat.airflow_auth_manager().filter_authorized_dag_ids(
            dag_ids=dags, user=user, method="GET"
        ):
            readable.append(project)
    return readable


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))]


async def docs_reader(request: Request, bearer: Bearer) -> Any:
    """The caller, resolved by Airflow (:func:`compat.airflow_user`), or 401/403."""
    return await compat.airflow_user(request, bearer)


DocsReader = Annotated[Any, Depends(docs_reader)]


@app.get("/", response_class=HTMLResponse)
def index(user: DocsReader) -> str:
    """The projects whose site this user may read."""
    items = "".join(
        f'<li><a href="{html.escape(p)}/">{html.escape(p)}</a></li>' for p in readable_projects(user)
    )
    body = f"<ul>{items}</ul>" if items else "<p>No dbt docs yet: run a DbtSparkDocsOperator task.</p>"
    return f"<!doctype html><title>dbt docs</title><h1>dbt docs</h1>{body}"


@app.get("/{project}/")
@app.get("/{project}/{name}")
def site_file(project: str, user: DocsReader, name: str = "index.html") -> FileResponse:
    """index.html, manifest.json and catalog.json of one project's site, to a user who may read it."""
    path: Path = state_dir() / "docs" / project / name
    if name not in SITE_FILES or "/" in project or project.startswith(".") or not path.is_file():
        raise HTTPException(status_code=404, detail=f"no dbt docs file {project}/{name}")
    if project not in readable_projects(user):
        raise HTTPException(status_code=403, detail=f"not allowed to read the DAGs of dbt project {project}")
    return FileResponse(path)


class DbtSparkOperatorPlugin(AirflowPlugin):
    name = "dbt_spark_operator"
    fastapi_apps = [{"app": app, "url_prefix": "/dbt-docs", "name": "dbt docs"}]
    external_views = [
        {
            "name": "dbt docs",
            "href": "/dbt-docs/",
            "destination": "nav",
            "url_route": "dbt-docs",
            "category": "browse",
        }
    ]
