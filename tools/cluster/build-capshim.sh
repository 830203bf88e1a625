#!/usr/bin/env bash
# Builds offgridflow-runc (tools/cluster/capshim) into the cluster cache and prints its path.
# Quick and idempotent: rebuilt only when its source changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OFFGRIDFLOW_CLUSTER_CACHE:-/var/cache/offgridflow-cluster}/bin"
binary="$out/offgridflow-runc"
go_bin="$(OFFGRIDFLOW_GO_PURPOSE="for offgridflow-runc" bash "$here/../../scripts/ensure-go.sh")"
PATH="$(dirname "$go_bin"):$PATH"
sum="$(cat "$here/capshim/go.mod" "$here/capshim/main.go" | sha256sum | cut -c1-16)"
if [ -x "$binary" ] && [ "$(cat "$binary.sum" 2>/dev/null)" = "$sum" ]; then
  echo "$binary"; exit 0
fi
mkdir -p "$out"
(cd "$here/capshim" && CGO_ENABLED=0 go build -trimpath -o "$binary.new" .)
mv "$binary.new" "$binary"
echo "$sum" > "$binary.sum"
echo "$binary"
