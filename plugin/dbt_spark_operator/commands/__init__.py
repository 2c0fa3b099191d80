"""The nine dbt command operators (:mod:`.operators`) and the one table of which command takes which
flag (:mod:`.flags`).

May import: :mod:`~dbt_spark_operator.execution`, :mod:`~dbt_spark_operator.connection`,
:mod:`~dbt_spark_operator.project`, :mod:`~dbt_spark_operator.runtime` (how a command's pod
runs), :mod:`~dbt_spark_operator.pod`, :mod:`~dbt_spark_operator.results`.
"""

# The nine operators by name, the one list of them: the package's lazy API reads it without importing
# the operators (Cosmos, the Kubernetes provider); :data:`.operators.OPERATORS` holds their classes.
OPERATOR_NAMES = (
    "DbtSparkRunOperator",
    "DbtSparkTestOperator",
    "DbtSparkSeedOperator",
    "DbtSparkSnapshotOperator",
    "DbtSparkCompileOperator",
    "DbtSparkDebugOperator",
    "DbtSparkDepsOperator",
    "DbtSparkFreshnessOperator",
    "DbtSparkDocsOperator",
)
