#!/usr/bin/env bash
# Builds every binary of the offline kind cluster from the Go modules pinned under tools/cluster/
# into $OFFGRIDFLOW_CLUSTER_CACHE/bin (default /var/cache/offgridflow-cluster/bin). A module whose
# go.mod, go.sum and sources did not change since its last build is skipped (a stamp per module).
# Cold, on 2 cores, this takes a long while (Kubernetes alone is most of it): progress is printed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${OFFGRIDFLOW_CLUSTER_CACHE:-/var/cache/offgridflow-cluster}"
out="$cache/bin"

# A Go new enough for the modules here (scripts/ensure-go.sh fetches one, or says what to run).
go_bin="$(bash "$here/../../scripts/ensure-go.sh")"
PATH="$(dirname "$go_bin"):$PATH"
export PATH
mkdir -p "$out"
free_kb="$(df -Pk "$cache" | awk 'NR==2 {print $4}')"
if [ "${free_kb:-0}" -lt $((8 * 1024 * 1024)) ]; then
  echo "error: less than 8 GiB free under $cache (Go's build cache and the binaries need it): free some disk and run again" >&2
  exit 1
fi

# name | package | output binary
builds=(
  "etcd|.|etcd"
  "coredns|github.com/coredns/coredns|coredns"
  "kind|sigs.k8s.io/kind|kind"
  "cri-tools|sigs.k8s.io/cri-tools/cmd/crictl|crictl"
  "metrics-server|sigs.k8s.io/metrics-server/cmd/metrics-server|metrics-server"
  "kube-state-metrics|k8s.io/kube-state-metrics/v2|kube-state-metrics"
  "prometheus|github.com/prometheus/prometheus/cmd/prometheus|prometheus"
  "pause|.|pause"
  "capshim|.|offgridflow-runc"
)

stamp_of() { (cd "$here/$1" && cat go.mod go.sum *.go 2>/dev/null | sha256sum | cut -c1-16; go env GOVERSION) | tr '\n' ' '; }

for entry in "${builds[@]}"; do
  IFS='|' read -r name package binary <<<"$entry"
  stamp="$out/.$name.stamp"
  want="$(stamp_of "$name")"
  if [ -x "$out/$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    continue
  fi
  echo "building $binary ($name, $(date +%T))"
  started=$SECONDS
  (cd "$here/$name" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w" -o "$out/$binary.new" "$package") || {
    echo "error: building $binary from tools/cluster/$name failed (see above)" >&2
    rm -f "$out/$binary.new"
    exit 1
  }
  mv "$out/$binary.new" "$out/$binary"
  echo "$want" > "$stamp"
  echo "  $binary built in $((SECONDS - started)) s"
done

OUT="$out" bash "$here/build-kubernetes.sh"
