#!/usr/bin/env bash
# Trigger the sample DAGs on the deployed Airflow, wait, report each task's state.
# Usage: scripts/run-sample-tests.sh [--dry-run] simple|full|both
#   simple: analytics_kubernetes (one pod per model)   full: sample_dbt_pipeline   both: one, then the other
# Exit status: 0 only if every run succeeded.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

WHICH=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    simple|full|both) WHICH=$1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) die "unknown argument $1: use simple, full or both (try --help)" ;;
  esac
  shift
done
[ -n "$WHICH" ] || die "say which samples to run: simple, full or both"
if [ "$DRY_RUN" != 1 ]; then
  need kubectl
  kubectl -n airflow get deploy/airflow-scheduler >/dev/null 2>&1 \
    || die "no Airflow scheduler in namespace airflow on the current kubectl context: run scripts/deploy.sh first"
fi
TIMEOUT=${TIMEOUT:-1800}

# Airflow's CLI inside the scheduler pod (the official chart's labels).
airflow_cli() {
  run kubectl -n airflow exec deploy/airflow-scheduler -c scheduler -- airflow "$@"
}

run_dag() {
  local dag=$1 run_id state=queued waited=0
  run_id="sample__$(date +%Y%m%dT%H%M%S)"
  echo "== $dag ($run_id)"
  airflow_cli dags unpause "$dag" || return 1
  airflow_cli dags trigger "$dag" --run-id "$run_id" || return 1
  if [ "$DRY_RUN" = 1 ]; then
    airflow_cli dags state "$dag" "$run_id"
    airflow_cli tasks states-for-dag-run "$dag" "$run_id" -o table
    return 0
  fi
  while [ "$state" = queued ] || [ "$state" = running ]; do
    [ "$waited" -lt "$TIMEOUT" ] || { echo "$dag: still $state after ${TIMEOUT}s" >&2; return 1; }
    sleep 10
    waited=$((waited + 10))
    state=$(airflow_cli dags state "$dag" "$run_id" | tail -n 1) || return 1
  done
  airflow_cli tasks states-for-dag-run "$dag" "$run_id" -o table
  echo "$dag: $state"
  [ "$state" = success ]
}

status=0
case "$WHICH" in
  simple) run_dag analytics_kubernetes || status=1 ;;
  full) run_dag sample_dbt_pipeline || status=1 ;;
  both)
    run_dag analytics_kubernetes || status=1
    run_dag sample_dbt_pipeline || status=1
    ;;
esac
exit "$status"
