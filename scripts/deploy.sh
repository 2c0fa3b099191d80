#!/usr/bin/env bash
# Deploy dbt-spark-operator to minikube: images, MinIO, Kyuubi, Airflow, the dbt projects.
# Usage: scripts/deploy.sh [--dry-run] [--kyuubi-chart DIR]
#   --dry-run         print the commands instead of running them (needs none of the tools)
#   --kyuubi-chart    Kyuubi's chart directory (default $KYUUBI_HOME/charts/kyuubi)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

KYUUBI_CHART=${KYUUBI_HOME:+$KYUUBI_HOME/charts/kyuubi}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --kyuubi-chart) KYUUBI_CHART=${2:?--kyuubi-chart needs a directory}; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (try --help)" ;;
  esac
  shift
done
if [ "$DRY_RUN" != 1 ]; then
  need minikube kubectl helm
  minikube status >/dev/null 2>&1 || die "minikube is not running: minikube start --memory 12g --cpus 4"
fi
[ -n "$KYUUBI_CHART" ] || die "Kyuubi's chart is not in Helm repositories: pass --kyuubi-chart DIR or set KYUUBI_HOME"

echo "== images (built inside minikube, pulled with imagePullPolicy Never)"
run minikube image build -t dbt-spark:latest image/
run minikube image build -t airflow-dbt-spark:latest -f image/airflow.Dockerfile .

echo "== dbt projects (with their manifest, so that DAG parsing needs no JVM) on the node"
run make install
run .venv/bin/dbt-spark-operator manifest analytics
run minikube ssh -- sudo mkdir -p /opt/dbt/projects /opt/dbt/state
while IFS= read -r file; do
  run minikube cp "$file" "/opt/dbt/projects/${file#dbt/}"
done < <(find dbt -type f ! -path '*/logs/*' ! -path '*/dbt_packages/*' ! -name .user.yml \
  \( ! -path '*/target/*' -o -name manifest.json \) | sort)

echo "== namespaces and secrets (generated once, kept on re-runs)"
for ns in airflow kyuubi minio; do
  if [ "$DRY_RUN" = 1 ] || ! kubectl get namespace "$ns" >/dev/null 2>&1; then
    run kubectl create namespace "$ns"
  fi
done
secret() {  # secret NAMESPACE NAME KEY=VALUE...: create it unless it exists; values never in argv or output
  local ns=$1 name=$2 file
  shift 2
  if [ "$DRY_RUN" = 1 ]; then
    echo "+ kubectl -n $ns create secret generic $name --from-env-file=<a 0600 temp file: ${*%%=*}>"
  elif ! kubectl -n "$ns" get secret "$name" >/dev/null 2>&1; then
    file=$(mktemp)
    chmod 600 "$file"
    printf '%s\n' "$@" > "$file"
    kubectl -n "$ns" create secret generic "$name" --from-env-file="$file"
    rm -f "$file"
  fi
}
random() { head -c 24 /dev/urandom | base64 | tr -d '/+=' ; }
MINIO_KEY=$(random)
secret minio minio-credentials rootUser=dbt "rootPassword=$MINIO_KEY"
secret kyuubi minio-credentials access-key=dbt "secret-key=$MINIO_KEY"
secret airflow airflow-jwt-secret "jwt-secret=$(random)"
secret airflow airflow-api-secret "api-secret-key=$(random)"
secret airflow kyuubi-connection \
  'connection={"conn_type": "kyuubi", "host": "kyuubi-dbt.kyuubi.svc.cluster.local", "port": 10009, "login": "admin", "schema": "default"}'

echo "== charts"
run helm repo add minio https://charts.min.io/
run helm repo add apache-airflow https://airflow.apache.org
run helm repo update
run helm upgrade --install minio minio/minio -n minio -f helm-values/minio.yaml --wait
run helm upgrade --install kyuubi-dbt "$KYUUBI_CHART" -n kyuubi -f helm-values/kyuubi.yaml --wait
run kubectl apply -f helm-values/kyuubi-service.yaml
run kubectl apply -f helm-values/dbt-resources.yaml
run helm upgrade --install airflow apache-airflow/airflow -n airflow -f helm-values/airflow.yaml \
  -f helm-values/airflow-minikube.yaml --timeout 15m

echo "== readiness (the official chart labels pods component=<name>, release=<release>)"
run kubectl -n airflow wait --for=condition=Ready pod -l component=scheduler,release=airflow --timeout=600s
run kubectl -n airflow wait --for=condition=Ready pod -l component=api-server,release=airflow --timeout=600s
run kubectl -n airflow wait --for=condition=Ready pod -l component=dag-processor,release=airflow --timeout=600s
run kubectl -n kyuubi wait --for=condition=Ready pod -l app.kubernetes.io/instance=kyuubi-dbt --timeout=600s

cat <<'NEXT'
== next
  kubectl -n airflow port-forward svc/airflow-api-server 8080:8080   # the UI: http://localhost:8080
  scripts/run-sample-tests.sh both                                    # trigger the sample DAGs, wait, report
NEXT
