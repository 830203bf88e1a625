#!/usr/bin/env bash
# make kind-down: delete the kind cluster "offgridflow" and stop its registry container. The images
# and the registry's volume stay, so the next make kind-up is quick.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${OFFGRIDFLOW_CLUSTER_CACHE:-/var/cache/offgridflow-cluster}"
kind_bin="${KIND:-}"
if [ -z "$kind_bin" ]; then
  if [ -x "$cache/bin/kind" ]; then kind_bin="$cache/bin/kind"; else kind_bin="$(command -v kind || true)"; fi
fi
[ -n "$kind_bin" ] || { echo "error: no kind binary (set KIND=/path/to/kind)" >&2; exit 2; }
if "$kind_bin" get clusters 2>/dev/null | grep -qx offgridflow; then
  "$kind_bin" delete cluster --name offgridflow --kubeconfig .state/kind/offgridflow.kubeconfig
else
  echo "no kind cluster offgridflow"
fi
docker rm -f offgridflow-kind-registry >/dev/null 2>&1 && echo "removed offgridflow-kind-registry" || true
