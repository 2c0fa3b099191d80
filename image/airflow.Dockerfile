# airflow-dbt-spark:latest -- Airflow 3 with this package (the kyuubi connection type, dbt_task_group,
# the operators, the /dbt-docs page) for the official chart (helm-values/airflow.yaml, images.airflow).
#
# Build into minikube from the repository root:
#   minikube image build -t airflow-dbt-spark:latest -f image/airflow.Dockerfile .
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root pyproject.toml README.md /opt/dbt-spark-operator/
COPY --chown=airflow:root plugin /opt/dbt-spark-operator/plugin
RUN pip install --no-cache-dir "apache-airflow==3.3.2" /opt/dbt-spark-operator
