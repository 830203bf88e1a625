#!/usr/bin/env bash
# make test, after system-deps: the venv, the lint, the cluster's kubectl, then the suite in its tiers
# (scripts/test-tiers.sh; its arguments are pytest's).
#
# On a machine without the kind toolchain, its Go build is the long pole of the whole run (about 15
# minutes on 2 cores, before the kind cluster can even be made). So it starts first, in the
# background, beside the venv and the lint (which leave a core idle), with its lines marked
# [toolchain]; the kind tier's kind-up then waits for what it has not finished yet (tools/cluster/
# build.sh keeps a lock per module, so nothing is built twice). On a warm machine it finds everything
# up to date within a second or two. It is stopped when this script ends, however it ends: a finished
# module is kept, the one under way is built again by the next run.
#   KIND_NODE_IMAGE  set: the kind tier uses that node image and no toolchain is built (kubectl is)
#   MAKE             the make to run `venv lint` with (the Makefile passes its own)
set -euo pipefail
cd "$(dirname "$0")/.."
cluster_bin="${OFFGRIDFLOW_CLUSTER_CACHE:-/var/cache/offgridflow-cluster}/bin"
test_path="$PWD/.state/bin"

go="$(bash scripts/ensure-go.sh)"
PATH="$(dirname "$go"):$PATH"
export PATH

toolchain=""
stop_toolchain() {
  [ -n "$toolchain" ] || return 0
  if [ -n "$(jobs -pr)" ]; then
    echo "[toolchain] stopped: make test is ending (the modules built so far are kept)"
    kill -TERM -- "-$toolchain" 2>/dev/null || true
  fi
  wait "$toolchain" 2>/dev/null || true
  toolchain=""
}
if [ -z "${KIND_NODE_IMAGE:-}" ]; then
  # its own process group (job control), so that it can be stopped whole, go build and all
  set -m
  { bash tools/cluster/build.sh all 2>&1 | sed -u 's/^/[toolchain] /'; } < /dev/null &
  toolchain=$!
  set +m
  trap stop_toolchain EXIT
  trap 'stop_toolchain; exit 130' INT
  trap 'stop_toolchain; exit 143' TERM
fi

"${MAKE:-make}" --no-print-directory venv lint
(cd tools/cluster/capshim && go test ./...)
OUT="$cluster_bin" bash tools/cluster/build-kubernetes.sh kubectl
mkdir -p "$test_path"
ln -sfn "$cluster_bin/kubectl" "$test_path/kubectl"
PATH="$test_path:$PATH" OFFGRIDFLOW_KIND_TIER=1 bash scripts/test-tiers.sh "$@"
