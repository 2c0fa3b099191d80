"""Development tooling, apart from what an Airflow worker imports: the local engine (Spark's thrift
server with Iceberg, optional LDAP logins and TLS), ``make demo``, ``make ui``, and the Airflow stack
(PostgreSQL and Airflow's services) the integration suite and the benchmarks start; ``dev.warm``, the
deprecated path of the warm executor an Airflow configuration may name. Nothing outside this subpackage
imports it but the command line's dev commands.

May import: anything of the package. Nothing outside it imports it.
"""

from __future__ import annotations

from pathlib import Path

from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.project.paths import CHECKOUT


def checkout() -> Path:
    """The source checkout the dev tools work in (its dags/, dbt/, .airflow/); one clear error without."""
    if CHECKOUT is None:
        raise DbtSparkOperatorError(
            "the demo, ui and local-engine tools run from a source checkout (git clone)"
        )
    return CHECKOUT
