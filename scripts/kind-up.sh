#!/usr/bin/env bash
# Create (or reuse) the kind cluster "offgridflow" from kind-config.yaml, build the API images and load
# them into it, apply the kind overlay and wait until everything is rolled out.
#   KIND             the kind binary (default: kind from PATH; never downloaded)
#   KIND_NODE_IMAGE  node image instead of the one pinned in kind-config.yaml
#   KIND_OVERLAY     overlay to apply (default deploy/kubernetes/overlays/kind;
#                    deploy/kubernetes/overlays/kind-inplace-config for the un-hashed ConfigMap)
#   ROLLOUT_TIMEOUT  per rollout (default 300s)
set -euo pipefail
cd "$(dirname "$0")/.."

kind_bin="${KIND:-kind}"
cluster=offgridflow
context="kind-$cluster"
overlay="${KIND_OVERLAY:-deploy/kubernetes/overlays/kind}"
timeout="${ROLLOUT_TIMEOUT:-300s}"
repository=ghcr.io/your-org/offgridflow-api
python="${PYTHON:-.venv/bin/python}"

fail() { echo "error: $*" >&2; exit 2; }

command -v "$kind_bin" >/dev/null || fail "kind is not on PATH (set KIND=/path/to/kind); this script never downloads it"
command -v kubectl >/dev/null || fail "kubectl is not on PATH"
docker info >/dev/null 2>&1 || fail "the Docker Engine does not answer (docker info failed)"
[ -x "$python" ] || fail "$python is missing; run make venv first"
[ -d "$overlay" ] || fail "overlay $overlay does not exist"

if "$kind_bin" get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "reusing kind cluster $cluster"
else
  create=(create cluster --config kind-config.yaml --wait 180s)
  if [ -n "${KIND_NODE_IMAGE:-}" ]; then
    create+=(--image "$KIND_NODE_IMAGE")
  fi
  "$kind_bin" "${create[@]}"
fi

# The runbook's two tags: v1.3.0 is deployed, v1.2.3 is the known-good tag of Fix 4.
bash scripts/build-base-image.sh
"$python" -c 'from offgridflow_runbook.stack._images import _build_wheelhouse; _build_wheelhouse(print)'
for tag in v1.3.0 v1.2.3; do
  docker build --quiet --network host -f deploy/docker/api.Dockerfile \
    --build-arg "OFFGRIDFLOW_VERSION=${tag#v}" -t "$repository:$tag" deploy/docker
  "$kind_bin" load docker-image --name "$cluster" "$repository:$tag"
done

kubectl --context "$context" apply -k "$overlay"

kubectl --context "$context" -n offgridflow rollout status statefulset/postgres --timeout="$timeout"
kubectl --context "$context" -n offgridflow rollout status deployment/offgridflow-api --timeout="$timeout"
for deployment in prometheus alertmanager kube-state-metrics; do
  kubectl --context "$context" -n monitoring rollout status "deployment/$deployment" --timeout="$timeout"
done
kubectl --context "$context" -n kube-system rollout status deployment/metrics-server --timeout="$timeout"
echo "kind cluster $cluster is up: API http://127.0.0.1:8080, metrics :8081, Prometheus :9090, Alertmanager :9093 (context $context)"
