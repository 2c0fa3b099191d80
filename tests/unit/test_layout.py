"""The package's layout keeps development tooling apart from what an Airflow worker imports: nothing
outside ``dbt_spark_operator.dev`` imports it (the command line's dev commands aside, inside their
functions), and loading the package, its operators, its task group, its Airflow plugin and its warm
executor leaves it unimported."""

from __future__ import annotations

import os
import re

from helpers import ROOT, python_json

PACKAGE = ROOT / "plugin" / "dbt_spark_operator"
RUNTIME_IMPORTS = """
import json, sys
import dbt_spark_operator
from dbt_spark_operator import (dbt_task_group, dbt_run_operation, PodSettings, KyuubiProfileMapping,
                                DbtSparkRunOperator)
import dbt_spark_operator.runtime.local_process, dbt_spark_operator.docs_plugin
import dbt_spark_operator.connection.provider, dbt_spark_operator.runtime.warm_executor
from dbt_spark_operator.compat import load_airflow_plugins
load_airflow_plugins()
print(json.dumps(sorted(m for m in sys.modules if m.startswith("dbt_spark_operator.dev"))))
"""


def test_only_the_dev_commands_import_the_dev_subpackage():
    importers = {
        path.name
        for path in PACKAGE.rglob("*.py")
        if "dev" not in path.relative_to(PACKAGE).parts
        if re.search(r"^\s*(from|import) dbt_spark_operator\.dev\b", path.read_text(), re.M)
    }
    assert importers == {"cli.py"}
    cli = (PACKAGE / "cli.py").read_text()
    assert not re.search(r"^(from|import) dbt_spark_operator\.dev\b", cli, re.M)  # only inside functions


def test_the_runtime_path_leaves_the_dev_subpackage_unimported():
    assert python_json(RUNTIME_IMPORTS, env=dict(os.environ)) == []


def test_test_modules_have_unique_names_across_the_suites():
    # pytest imports test modules by their basename (no packages): two alike fail the whole collection.
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    assert sorted(names) == sorted(set(names)), sorted(n for n in set(names) if names.count(n) > 1)


def _layout_block() -> str:
    text = (ROOT / "docs" / "development.md").read_text()
    return text.split("## Layout", 1)[1].split("```", 2)[1]


def test_the_development_docs_list_every_module_on_a_line_of_its_own():
    block = _layout_block()
    lines = [line.split()[0] for line in block.splitlines() if line.strip()]
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        name = relative.name if relative.parts[0] == "dev" else relative.as_posix()
        if relative.name == "__init__.py" and relative.parent.name not in ("", "runtime"):
            continue  # a subpackage's docstring, not a module of its own
        if name not in lines:
            missing.append(relative.as_posix())
    assert not missing, f"docs/development.md's layout lacks {missing}"


def _package_imports(path) -> set[str]:
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "dbt_spark_operator" and len(parts) > 1:
                found.add(parts[1])
    return found


EVERYWHERE = {"errors", "compat", "deprecations", "process_group"}  # cross-cutting leaves


def test_each_subpackage_imports_only_what_its_docstring_allows():
    # "May import:" in a subpackage's docstring names the other parts of the package its modules import
    # (inside functions and for type checking too); the cross-cutting modules go everywhere.
    import ast

    problems = []
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        subpackage = init.parent.name
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        if "May import:" not in doc:
            problems.append(f"{subpackage}: no 'May import:' in its docstring")
            continue
        rule = doc.split("May import:", 1)[1]
        allowed = set(re.findall(r"~dbt_spark_operator\.(\w+)", rule)) | {subpackage, *EVERYWHERE}
        if "anything of the package" in rule:
            continue
        for module in sorted(init.parent.glob("*.py")):
            for part in sorted(_package_imports(module) - allowed):
                problems.append(f"{subpackage}/{module.name} imports dbt_spark_operator.{part}")
    assert not problems, problems


def test_the_local_engine_imports_neither_airflow_nor_cosmos_nor_dbt():
    # `dbt-spark-operator engine up` prints its own lines only: Airflow's configuration, once imported,
    # logs its warnings to stdout.
    script = """
import json, sys
import dbt_spark_operator.dev.engine, dbt_spark_operator.cli
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"airflow", "cosmos", "dbt"})))
"""
    assert python_json(script, env=dict(os.environ)) == []
