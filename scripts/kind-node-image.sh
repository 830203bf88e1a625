#!/usr/bin/env bash
# Builds the offline kind node image offgridflow/kind-node:<kubernetes version> (no network needed
# beyond Debian's packages and the Go module proxy):
#   1. the node's toolchain from tools/cluster (Go modules, pinned; skipped when up to date; the
#      monitoring binaries are kind-up's, built once the cluster runs)
#   2. the control-plane images under the names kubeadm expects (our builds of those exact versions)
#   3. the node image from deploy/kind-node (Debian, systemd, containerd, the images preloaded)
# Nothing is rebuilt when its inputs did not change. Prints the image name on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${OFFGRIDFLOW_CLUSTER_CACHE:-/var/cache/offgridflow-cluster}"
bin="$cache/bin"
fail() { echo "error: $*" >&2; exit 2; }
step() { echo "[kind-node-image $(date +%T)] $*" >&2; }
# shellcheck source=scripts/lib/docker-build.sh
source scripts/lib/docker-build.sh

command -v docker >/dev/null || fail "docker is not installed: make system-deps"
docker info >/dev/null 2>&1 || fail "the Docker Engine does not answer: make system-deps starts it"

step "the node's toolchain (tools/cluster; the first build takes long on 2 cores)"
bash tools/cluster/build.sh node >&2

version="$(cd tools/cluster/kubernetes && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
node_image="offgridflow/kind-node:$version"
bash scripts/build-base-image.sh >&2

# What kubeadm of this version runs, e.g. registry.k8s.io/etcd:3.6.4-0.
mapfile -t wanted < <("$bin/kubeadm" config images list --kubernetes-version "$version" 2>/dev/null)
[ "${#wanted[@]}" -ge 6 ] || fail "kubeadm config images list gave no list: $bin/kubeadm is broken"
image_named() { printf '%s\n' "${wanted[@]}" | grep -E "/$1:" | head -n1; }

node_binaries=(kubelet kubeadm kubectl crictl offgridflow-runc kube-apiserver kube-controller-manager kube-scheduler kube-proxy etcd coredns pause)
inputs="$( (cat deploy/kind-node/Dockerfile deploy/kind-node/files/* "$0"; cd "$bin" && sha256sum "${node_binaries[@]}"; echo "$version") | sha256sum | cut -c1-16)"
if docker image inspect "$node_image" --format '{{index .Config.Labels "offgridflow.inputs"}}' 2>/dev/null | grep -qx "$inputs"; then
  step "$node_image is up to date"
  echo "$node_image"
  exit 0
fi

context="$(mktemp -d "$cache/context.XXXXXX")"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/bin"

# A static Go binary in an otherwise empty image: the control plane, etcd, CoreDNS and pause.
static_image() { # image binary [entrypoint]
  local image="$1" binary="$2" entrypoint="${3:-}"
  local dir="$context/img-$binary"
  mkdir -p "$dir"
  cp "$bin/$binary" "$dir/$binary"
  {
    echo "FROM scratch"
    echo "COPY $binary /usr/local/bin/$binary"
    echo "ENV PATH=/usr/local/bin:/usr/bin:/bin"
    echo "LABEL org.opencontainers.image.description=\"$binary built from Go modules by the offgridflow runbook suite (tools/cluster)\""
    [ -n "$entrypoint" ] && echo "ENTRYPOINT [\"/usr/local/bin/$binary\"]"
  } > "$dir/Dockerfile"
  build -t "$image" "$dir"
}

step "control-plane images for $version"
images=()
for component in kube-apiserver kube-controller-manager kube-scheduler; do
  image="$(image_named "$component")"; static_image "$image" "$component"; images+=("$image")
done
image="$(image_named etcd)"; static_image "$image" etcd; images+=("$image")
image="$(image_named coredns)"; static_image "$image" coredns entrypoint; images+=("$image")
# CoreDNS's upstream image runs /coredns; kubeadm's Deployment relies on that entrypoint.
pause_image="offgridflow.local/kind/pause:1.0"; static_image "$pause_image" pause entrypoint; images+=("$pause_image")

# kube-proxy programs iptables: it needs Debian's iptables and conntrack beside the binary.
proxy_image="$(image_named kube-proxy)"
mkdir -p "$context/img-kube-proxy"
cp "$bin/kube-proxy" "$context/img-kube-proxy/kube-proxy"
cat > "$context/img-kube-proxy/Dockerfile" <<'DOCKERFILE'
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables conntrack ipset kmod \
 && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/kube-proxy
LABEL org.opencontainers.image.description="kube-proxy built from Go modules by the offgridflow runbook suite (tools/cluster)"
DOCKERFILE
build --network host -t "$proxy_image" "$context/img-kube-proxy"
images+=("$proxy_image")

step "saving ${#images[@]} images for preloading"
docker save "${images[@]}" -o "$context/images.tar"

step "node image $node_image"
cp -r deploy/kind-node/files deploy/kind-node/Dockerfile "$context/"
for binary in kubelet kubeadm kubectl crictl offgridflow-runc; do cp "$bin/$binary" "$context/bin/"; done
echo "$version" > "$context/version"
build --network host --label "offgridflow.inputs=$inputs" -t "$node_image" "$context"
docker image prune --force --filter "label=offgridflow.inputs" >/dev/null 2>&1 || true
step "built $node_image"
echo "$node_image"
