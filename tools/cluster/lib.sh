# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source it
# Shared by tools/cluster/{up,down,exec}: where the development cluster keeps its state, its addresses,
# and how to find the processes of its namespaces. Sourced, never run.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER_DIR=${DBT_SPARK_CLUSTER_DIR:-$ROOT/.cluster}

RUN="$CLUSTER_DIR/run"          # pid files
LOGS="$CLUSTER_DIR/log"         # one log per component
PKI="$CLUSTER_DIR/pki"
KUBECONFIG_FILE="$CLUSTER_DIR/kubeconfig"
NODE_NAME=dbt-node
NODE_IP=10.201.0.1              # on a veth inside the cluster's network namespace only
POD_CIDR=10.202.0.0/16          # the bridge CNI's range; its gateway (10.202.0.1) is the node too
SERVICE_CIDR=10.203.0.0/24
API_PORT=6443
export PATH="$PATH:/usr/sbin:/sbin"

die() { echo "cluster: $*" >&2; exit 1; }
say() { echo "cluster: $*" >&2; }

# The process that holds the cluster's mount and network namespaces, if it is alive.
holder_pid() {
  local pid
  pid=$(cat "$RUN/holder.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/ns/net")" != "$(readlink /proc/self/ns/net)" ] \
    && echo "$pid"
}

# Every process in the cluster's network namespace (the components, the shims, whatever ran inside).
netns_pids() {
  local ns=$1 p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$ns" ] && echo "${p#/proc/}"
  done
  return 0
}

# The kubelet's pod cgroups (cgroupfs driver, cgroup v1 and v2), deepest first.
kubepods_cgroups() {
  find /sys/fs/cgroup -maxdepth 2 -type d -name kubepods 2>/dev/null | while read -r top; do
    find "$top" -depth -type d
  done
}
