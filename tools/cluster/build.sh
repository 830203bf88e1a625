#!/usr/bin/env bash
# Builds the binaries of the offline kind cluster from the Go modules pinned under tools/cluster/ into
# $OFFGRIDFLOW_CLUSTER_CACHE/bin (default /var/cache/offgridflow-cluster/bin).
#
#   build.sh [all|node|monitoring]
#     node        what the node image holds (scripts/kind-node-image.sh): etcd, CoreDNS, kind, crictl,
#                 pause, the capability shim and the Kubernetes binaries
#     monitoring  what kind-up puts into the monitoring images: metrics-server, kube-state-metrics,
#                 Prometheus (needed only once the cluster runs, so kind-up builds them after it)
#     all         both, the node's first (the default)
#
# A module whose go.mod, go.sum and sources did not change since its last build is skipped (a stamp per
# module). Each module is built under a lock of its own, and its stamp is read again once the lock is
# held: `make test` starts one run early, beside the venv and the lint, and the kind tier's kind-up
# starts another; each binary is built once, and the later run waits for what the earlier one is
# building, saying so. Cold, on 2 cores, this takes a long while (Kubernetes alone is most of it):
# progress is printed.
#
# A module folder with an `_overlay/` folder builds one dependency with some of its files replaced
# (go build -overlay): the files under `_overlay/` replace the same paths in the module named in the
# last column of the table below. Go refuses to overlay files in its module cache, so that module is
# copied once to $cache/src/<module>@<version> from the module cache (which checked it against go.sum)
# and replaced by the copy in a go.mod of the build's own (-modfile); tools/cluster's go.mod is not changed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${OFFGRIDFLOW_CLUSTER_CACHE:-/var/cache/offgridflow-cluster}"
out="$cache/bin"
group="${1:-all}"
case "$group" in
  all | node | monitoring) ;;
  *) echo "error: build.sh takes all, node or monitoring, not '$group'" >&2; exit 64 ;;
esac

# A Go new enough for the modules here (scripts/ensure-go.sh fetches one, or says what to run).
go_bin="$(bash "$here/../../scripts/ensure-go.sh")"
PATH="$(dirname "$go_bin"):$PATH"
export PATH
mkdir -p "$out/.locks"
free_kb="$(df -Pk "$cache" | awk 'NR==2 {print $4}')"
if [ "${free_kb:-0}" -lt $((8 * 1024 * 1024)) ]; then
  echo "error: less than 8 GiB free under $cache (Go's build cache and the binaries need it): free some disk and run again" >&2
  exit 1
fi

# name | group | package | output binary | module that _overlay/ patches
# Within a group the modules that build their libraries at other versions than Kubernetes come first:
# an early run builds them while `make test` builds kubectl, with no package compiled twice at once.
builds=(
  "coredns|node|github.com/coredns/coredns|coredns|github.com/coredns/coredns"
  "kind|node|sigs.k8s.io/kind|kind|"
  "etcd|node|.|etcd|"
  "cri-tools|node|sigs.k8s.io/cri-tools/cmd/crictl|crictl|"
  "pause|node|.|pause|"
  "capshim|node|.|offgridflow-runc|"
  "kubernetes|node|build-kubernetes.sh|(its own script: a stamp per binary, one lock and one go build for the set)|"
  "prometheus|monitoring|github.com/prometheus/prometheus/cmd/prometheus|prometheus|github.com/prometheus/prometheus"
  "metrics-server|monitoring|sigs.k8s.io/metrics-server/cmd/metrics-server|metrics-server|"
  "kube-state-metrics|monitoring|k8s.io/kube-state-metrics/v2|kube-state-metrics|"
)

stamp_of() {
  (
    cd "$here/$1"
    # shellcheck disable=SC2046 # file names from find, none with blanks
    cat go.mod go.sum $(find . -maxdepth 1 -name '*.go' | sort) $(find _overlay -type f 2>/dev/null | sort) | sha256sum | cut -c1-16
    go env GOVERSION
  ) | tr '\n' ' '
}

# shellcheck source=tools/cluster/lock.sh
source "$here/lock.sh"

# The go build options that apply a module's _overlay/ to a copy of the module it patches.
overlay_options() { # name module
  local name="$1" module="$2" version source copy work rel entries=""
  version="$(cd "$here/$name" && go list -m -f '{{.Version}}' "$module")"
  copy="$cache/src/${module//\//_}@$version"
  if [ ! -d "$copy" ]; then
    source="$(cd "$here/$name" && go mod download -json "$module" | sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')"
    [ -d "$source" ] || { echo "error: go mod download gave no folder for $module@$version" >&2; return 1; }
    rm -rf "$copy.partial"
    mkdir -p "$cache/src"
    cp -r "$source" "$copy.partial"
    chmod -R u+w "$copy.partial"
    mv "$copy.partial" "$copy"
  fi
  work="$cache/src/.$name.build"
  mkdir -p "$work"
  cp "$here/$name/go.mod" "$work/go.mod"
  cp "$here/$name/go.sum" "$work/go.sum"
  printf '\nreplace %s => %s\n' "$module" "$copy" >> "$work/go.mod"
  while IFS= read -r rel; do
    [ -f "$copy/$rel" ] || {
      echo "error: tools/cluster/$name/_overlay/$rel replaces a file that $module@$version does not have" >&2
      return 1
    }
    entries="$entries${entries:+,}\"$copy/$rel\":\"$here/$name/_overlay/$rel\""
  done < <(cd "$here/$name/_overlay" && find . -type f | sed 's|^\./||' | sort)
  printf '{"Replace":{%s}}\n' "$entries" > "$work/overlay.json"
  echo "-modfile=$work/go.mod -overlay=$work/overlay.json"
}

for entry in "${builds[@]}"; do
  IFS='|' read -r name its_group package binary patched <<<"$entry"
  [ "$group" = all ] || [ "$group" = "$its_group" ] || continue
  if [ "$package" = build-kubernetes.sh ]; then OUT="$out" bash "$here/build-kubernetes.sh"; continue; fi
  stamp="$out/.$name.stamp"
  want="$(stamp_of "$name")"
  up_to_date() { [ -x "$out/$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; }
  up_to_date && continue
  hold_build_lock "$name" "$name"
  if up_to_date; then exec 8>&-; continue; fi
  echo "building $binary ($name, $(date +%T))"
  started=$SECONDS
  options=""
  if [ -n "$patched" ]; then options="$(overlay_options "$name" "$patched")" || exit 1; fi
  # shellcheck disable=SC2086 # $options is a list of go build flags without blanks
  (cd "$here/$name" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w" $options -o "$out/$binary.new" "$package") || {
    echo "error: building $binary from tools/cluster/$name failed (see above)" >&2
    rm -f "$out/$binary.new"
    exit 1
  }
  mv "$out/$binary.new" "$out/$binary"
  echo "$want" > "$stamp"
  exec 8>&-
  echo "  $binary built in $((SECONDS - started)) s"
done
