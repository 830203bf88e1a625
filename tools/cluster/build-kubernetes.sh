#!/usr/bin/env bash
# Builds the Kubernetes binaries pinned in tools/cluster/kubernetes/go.mod into $OUT (static, linux/amd64):
# all of them, or only those named as arguments (`build-kubernetes.sh kubectl`: make test renders the
# manifests with it before the kind tier builds the rest). A binary that exists and was built from the
# same go.mod/go.sum with the same Go is skipped (a stamp per binary, and one for the whole set).
# The build holds a lock and reads the stamps again once it has it, so two runs at once (make test's
# kubectl and the early toolchain build beside it) never build a binary twice.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:?OUT must name the output folder}"
# shellcheck source=tools/cluster/lock.sh
source "$here/lock.sh"
module="$here/kubernetes"
version="$(cd "$module" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
[ -n "$version" ] || { echo "error: no k8s.io/kubernetes version in $module/go.mod" >&2; exit 1; }
commands=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubeadm kubectl)
all=1
if [ "$#" -gt 0 ]; then commands=("$@"); all=0; fi
stamp="$out/.kubernetes.stamp"
want="$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-16) $(go env GOVERSION)"
up_to_date() {
  [ -x "$out/$1" ] && { [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] || [ "$(cat "$out/.kubernetes-$1.stamp" 2>/dev/null)" = "$want" ]; }
}
missing=()
for c in "${commands[@]}"; do up_to_date "$c" || missing+=("$c"); done
if [ "${#missing[@]}" = 0 ]; then
  echo "kubernetes $version: ${commands[*]} up to date in $out"
  exit 0
fi
mkdir -p "$out"
major="${version#v}"; major="${major%%.*}"
minor="${version#v*.}"; minor="${minor%%.*}"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="$ldflags -X $pkg.gitCommit=offgridflow-$version"
cd "$module"
# One lock for the set: the binaries are built by one go build, which links one binary while it
# compiles the next one's packages (a link uses one core; one at a time they took twice as long).
hold_build_lock kubernetes "Kubernetes (${missing[*]})"
built=()
for c in "${missing[@]}"; do up_to_date "$c" || built+=("$c"); done
if [ "${#built[@]}" -gt 0 ]; then
  echo "building ${built[*]} $version ($(date +%T))"
  started=$SECONDS
  rm -rf "$out/.kubernetes.new"
  mkdir -p "$out/.kubernetes.new"
  CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "$ldflags" -o "$out/.kubernetes.new/" \
    "${built[@]/#/k8s.io/kubernetes/cmd/}"
  for c in "${built[@]}"; do
    mv "$out/.kubernetes.new/$c" "$out/$c"
    echo "$want" > "$out/.kubernetes-$c.stamp"
  done
  rm -rf "$out/.kubernetes.new"
  echo "  built in $((SECONDS - started)) s"
fi
exec 8>&-
if [ "$all" = 1 ]; then echo "$want" > "$stamp"; fi
if [ "${#built[@]}" = 0 ]; then
  echo "kubernetes $version: ${commands[*]} up to date in $out (another run built them)"
else
  echo "kubernetes $version: ${built[*]} built into $out"
fi
