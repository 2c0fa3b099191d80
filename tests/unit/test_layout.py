"""The package's layout keeps development tooling apart from what an Airflow worker imports: nothing
outside ``dbt_spark_operator.dev`` imports it (the command line's dev commands aside, inside their
functions), and loading the package, its operators, its task group and its Airflow plugin leaves it
unimported."""

from __future__ import annotations

import os
import re

from conftest import ROOT, python_json

PACKAGE = ROOT / "plugin" / "dbt_spark_operator"
RUNTIME_IMPORTS = """
import json, sys
import dbt_spark_operator
from dbt_spark_operator import (dbt_task_group, dbt_run_operation, PodSettings, KyuubiProfileMapping,
                                DbtSparkRunOperator)
import dbt_spark_operator.local_run, dbt_spark_operator.docs_plugin, dbt_spark_operator.provider
from dbt_spark_operator.compat import load_airflow_plugins
load_airflow_plugins()
print(json.dumps(sorted(m for m in sys.modules if m.startswith("dbt_spark_operator.dev"))))
"""


def test_only_the_dev_commands_import_the_dev_subpackage():
    importers = {
        path.name
        for path in PACKAGE.glob("*.py")
        if re.search(r"^\s*(from|import) dbt_spark_operator\.dev\b", path.read_text(), re.M)
    }
    assert importers == {"cli.py"}
    cli = (PACKAGE / "cli.py").read_text()
    assert not re.search(r"^(from|import) dbt_spark_operator\.dev\b", cli, re.M)  # only inside functions


def test_the_runtime_path_leaves_the_dev_subpackage_unimported():
    assert python_json(RUNTIME_IMPORTS, env=dict(os.environ)) == []


def test_test_modules_have_unique_names_across_the_suites():
    # pytest imports test modules by their basename (no packages): two alike fail the whole collection.
    names = [path.name for path in (ROOT / "tests").glob("*/test_*.py")]
    assert sorted(names) == sorted(set(names)), sorted(n for n in set(names) if names.count(n) > 1)
