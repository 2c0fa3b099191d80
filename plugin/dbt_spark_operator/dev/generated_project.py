"""A generated dbt project of any size for the benchmarks and the watcher's large-run test: chains of
ten models, each chain fanning out from one root model, a ``not_null`` test on every model."""

from __future__ import annotations

from pathlib import Path

from dbt_spark_operator.dev import checkout


def generate(root: Path, models: int, name: str | None = None) -> Path:
    """A project of ``models`` models under ``root/<name>`` (default ``bench_<models>``), profile
    ``analytics``, tables in Iceberg."""
    project = root / (name or f"bench_{models}")
    (project / "models").mkdir(parents=True)
    (project / "macros").mkdir()
    # Like dbt/analytics, one listing per schema instead of a DESCRIBE per table (the macro says why).
    list_relations = checkout() / "dbt" / "analytics" / "macros" / "list_relations.sql"
    (project / "macros" / "list_relations.sql").write_text(list_relations.read_text())
    (project / "dbt_project.yml").write_text(
        "name: bench\nversion: '1.0.0'\nconfig-version: 2\nprofile: analytics\n"
        "models:\n  bench:\n    +materialized: table\n    +file_format: iceberg\n"
    )
    schema = ["version: 2", "models:"]
    for i in range(models):
        upstream = "m0" if i % 10 == 1 else f"m{i - 1}" if i % 10 else None
        sql = f"select * from {{{{ ref('{upstream}') }}}}" if upstream else "select 1 as id"
        (project / "models" / f"m{i}.sql").write_text(sql + "\n")
        schema += [f"  - name: m{i}", "    columns:", "      - name: id", "        data_tests: [not_null]"]
    (project / "models" / "schema.yml").write_text("\n".join(schema) + "\n")
    return project
