#!/usr/bin/env bash
# Builds offgridflow-runc (tools/cluster/capshim) into the cluster cache and prints its path.
# Quick and idempotent: rebuilt only when its source changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OFFGRIDFLOW_CLUSTER_CACHE:-/var/cache/offgridflow-cluster}/bin"
binary="$out/offgridflow-runc"
command -v go >/dev/null || { echo "error: go is not installed (needed for offgridflow-runc): apt-get install golang-go" >&2; exit 1; }
sum="$(cat "$here/capshim/go.mod" "$here/capshim/main.go" | sha256sum | cut -c1-16)"
if [ -x "$binary" ] && [ "$(cat "$binary.sum" 2>/dev/null)" = "$sum" ]; then
  echo "$binary"; exit 0
fi
mkdir -p "$out"
(cd "$here/capshim" && CGO_ENABLED=0 go build -trimpath -o "$binary.new" .)
mv "$binary.new" "$binary"
echo "$sum" > "$binary.sum"
echo "$binary"
