#!/usr/bin/env bash
# Builds the Kubernetes binaries pinned in tools/cluster/kubernetes/go.mod into $OUT (static, linux/amd64).
# Skips the build when every binary exists and was built from the same go.mod/go.sum (a stamp file).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:?OUT must name the output folder}"
module="$here/kubernetes"
version="$(cd "$module" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
[ -n "$version" ] || { echo "error: no k8s.io/kubernetes version in $module/go.mod" >&2; exit 1; }
commands=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubeadm kubectl)
stamp="$out/.kubernetes.stamp"
want="$(cat "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-16) $(go env GOVERSION)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  missing=0
  for c in "${commands[@]}"; do [ -x "$out/$c" ] || missing=1; done
  [ "$missing" = 0 ] && { echo "kubernetes $version: up to date in $out"; exit 0; }
fi
mkdir -p "$out"
major="${version#v}"; major="${major%%.*}"
minor="${version#v*.}"; minor="${minor%%.*}"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ldflags="$ldflags -X $pkg.gitCommit=offgridflow-$version"
cd "$module"
for c in "${commands[@]}"; do
  echo "building $c $version ($(date +%T))"
  CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "$ldflags" -o "$out/$c" "k8s.io/kubernetes/cmd/$c"
done
echo "$want" > "$stamp"
echo "kubernetes $version: built into $out"
