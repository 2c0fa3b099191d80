"""An Airflow 3 plugin serving the dbt docs sites the docs task generated: ``/dbt-docs/<project>/``.

The sites live in the shared state directory (``DBT_SPARK_STATE_DIR``, in a cluster the state volume
mounted into the API server); the Airflow UI links them under "dbt docs".
"""

from __future__ import annotations

import html

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse

from dbt_spark_operator.project import state_dir

SITE_FILES = ("index.html", "manifest.json", "catalog.json")
app = FastAPI(title="dbt docs", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/", response_class=HTMLResponse)
def index() -> str:
    """The projects that have a generated site."""
    root = state_dir() / "docs"
    projects = sorted(p.name for p in root.glob("*") if (p / "index.html").is_file()) if root.is_dir() else []
    items = "".join(f'<li><a href="{html.escape(p)}/">{html.escape(p)}</a></li>' for p in projects)
    body = f"<ul>{items}</ul>" if items else "<p>No dbt docs yet: run a DbtSparkDocsOperator task.</p>"
    return f"<!doctype html><title>dbt docs</title><h1>dbt docs</h1>{body}"


@app.get("/{project}/")
@app.get("/{project}/{name}")
def site_file(project: str, name: str = "index.html") -> FileResponse:
    """index.html, manifest.json and catalog.json of one project's site, nothing else."""
    path = state_dir() / "docs" / project / name
    if name not in SITE_FILES or "/" in project or project.startswith(".") or not path.is_file():
        raise HTTPException(status_code=404, detail=f"no dbt docs file {project}/{name}")
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
