"""dbt-spark-operator: a dbt project on Spark (Kyuubi, Iceberg) as a per-model Airflow task graph."""

from dbt_spark_operator.errors import DbtSparkOperatorError

__all__ = ["DbtSparkOperatorError"]
__version__ = "0.1.0"
