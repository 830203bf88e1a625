#!/usr/bin/env bash
# Builds actionlint, the GitHub workflow linter `make test` runs on .github/workflows, from its Go module
# pinned here, into $OFFGRIDFLOW_CLUSTER_CACHE/bin (default /var/cache/offgridflow-cluster/bin) beside
# the kind toolchain (tools/cluster/build.sh). Served by the Go module proxy and checked against the Go
# checksum database like every module; skipped when that version is already built. Prints its path.
set -euo pipefail
module="github.com/rhysd/actionlint/cmd/actionlint"
version="v1.7.12"
cache="${OFFGRIDFLOW_CLUSTER_CACHE:-/var/cache/offgridflow-cluster}"
out="$cache/bin"
stamp="$out/.actionlint.stamp"

go_bin="$(command -v go || true)"
[ -n "$go_bin" ] || [ ! -x /usr/local/go/bin/go ] || go_bin=/usr/local/go/bin/go
[ -n "$go_bin" ] || { echo "error: Go is not installed; actionlint is built from its Go module (apt-get install golang, or the Go tarball)" >&2; exit 1; }
want="$module@$version $("$go_bin" env GOVERSION)"
if [ -x "$out/actionlint" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$out/actionlint"
  exit 0
fi
mkdir -p "$out"
echo "building actionlint $version from the Go module proxy" >&2
# `go install pkg@version` ignores any go.mod around it; -mod=mod lets it resolve the module's own deps
GOBIN="$out" GOFLAGS=-mod=mod CGO_ENABLED=0 "$go_bin" install -trimpath -ldflags "-s -w" "$module@$version"
echo "$want" > "$stamp"
echo "$out/actionlint"
