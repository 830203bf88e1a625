#!/usr/bin/env bash
# make kind-up: the kind cluster "offgridflow" from kind-config.yaml, the registry it pulls from, the
# images, the overlay, everything rolled out. Idempotent: a second run reuses what exists.
#   KIND_NODE_IMAGE  a node image to use as is (GitHub Actions: kind's upstream image). Unset: the
#                    offline node image is built here (scripts/kind-node-image.sh, long the first time)
#   KIND             the kind binary (default: ours from tools/cluster, else kind on PATH; never downloaded)
#   KIND_OVERLAY     overlay to apply (default: overlays/kind-offline with our node image, else overlays/kind)
#   ROLLOUT_TIMEOUT  per rollout and per wait of its own (default 300s; 5m, 1h30m or bare seconds too)
#   KIND_NODE_BACK_SECONDS  how long an existing cluster's API server gets to answer /readyz (a node
#                    restarted with the Docker Engine comes back); past it the cluster is made anew (120; a restarted node
#                    answered after 19 s here)
#   OFFGRIDFLOW_ALERT_PROFILE  fast (default: rules' `for` scaled down, scrapes every 2 s; the game day)
#                    or production (deploy/prometheus as written)
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${OFFGRIDFLOW_CLUSTER_CACHE:-/var/cache/offgridflow-cluster}"
cluster=offgridflow
context="kind-$cluster"
registry=offgridflow-kind-registry
registry_port=5001
timeout="${ROLLOUT_TIMEOUT:-300s}"
# the same bound in seconds, for the waits of our own (kubectl takes 300s, 5m, 1h30m; a bare number is seconds)
if [[ "$timeout" =~ ^([0-9]+)$ ]]; then
  timeout_seconds=$((10#${BASH_REMATCH[1]})); timeout="${timeout}s"
elif [[ "$timeout" =~ ^(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?$ ]] && [ -n "$timeout" ]; then
  timeout_seconds=$(( 10#${BASH_REMATCH[2]:-0} * 3600 + 10#${BASH_REMATCH[4]:-0} * 60 + 10#${BASH_REMATCH[6]:-0} ))
else
  timeout_seconds=0
fi
[ "$timeout_seconds" -gt 0 ] || { echo "error: ROLLOUT_TIMEOUT=$timeout: give a time above 0, e.g. 300s, 5m or 1h30m" >&2; exit 2; }
python="${PYTHON:-.venv/bin/python}"
kubeconfig="${KUBECONFIG_OUT:-.state/kind/$cluster.kubeconfig}"
api_repository=ghcr.io/your-org/offgridflow-api
started=$SECONDS

fail() { echo "error: $*" >&2; exit 2; }
step() { echo "[kind-up +$((SECONDS - started))s] $*"; }
# an image's label; empty when the image or the label is missing
label_of() { docker image inspect -f "{{if .Config.Labels}}{{index .Config.Labels \"$2\"}}{{end}}" "$1" 2>/dev/null || true; }
# shellcheck source=scripts/lib/docker-build.sh
source scripts/lib/docker-build.sh

command -v docker >/dev/null || fail "docker is not installed: run make system-deps"
docker info >/dev/null 2>&1 || fail "the Docker Engine does not answer (docker info failed): run make system-deps"
[ -x "$python" ] || fail "$python is missing: run make venv first"

offline=0
if [ -z "${KIND_NODE_IMAGE:-}" ]; then
  offline=1
  # The offline node image is built from Go modules: a Go new enough for them (fetched if need be),
  # or ensure-go's one line naming what to run.
  go_bin="$(OFFGRIDFLOW_GO_PURPOSE="for the offline node image (or set KIND_NODE_IMAGE to a node image you can pull)" \
    bash scripts/ensure-go.sh)" || exit 2
  PATH="$(dirname "$go_bin"):$PATH"
  export PATH
  step "offline node image (toolchain from tools/cluster; the first build takes long)"
  KIND_NODE_IMAGE="$(bash scripts/kind-node-image.sh | tail -n1)"
fi
kind_bin="${KIND:-}"
if [ -z "$kind_bin" ]; then
  if [ -x "$cache/bin/kind" ]; then kind_bin="$cache/bin/kind"; else kind_bin="$(command -v kind || true)"; fi
fi
[ -n "$kind_bin" ] && [ -x "$kind_bin" ] || fail "no kind binary: set KIND=/path/to/kind or run with KIND_NODE_IMAGE unset to build ours (never downloaded)"
kubectl_bin="${KUBECTL:-}"
if [ -z "$kubectl_bin" ]; then
  if [ -x "$cache/bin/kubectl" ]; then kubectl_bin="$cache/bin/kubectl"; else kubectl_bin="$(command -v kubectl || true)"; fi
fi
[ -n "$kubectl_bin" ] || fail "no kubectl: set KUBECTL=/path/to/kubectl"
overlay="${KIND_OVERLAY:-deploy/kubernetes/overlays/$([ "$offline" = 1 ] && echo kind-offline || echo kind)}"
[ -d "$overlay" ] || fail "overlay $overlay does not exist"
mkdir -p "$(dirname "$kubeconfig")"
kubectl() { "$kubectl_bin" --kubeconfig "$kubeconfig" --context "$context" "$@"; }

# A cluster that exists is brought back rather than made again: a stopped node is started, and a node
# that was restarted (e.g. by a Docker Engine restart, perhaps with another address on the kind
# network, which the node's entrypoint takes over) gets time for its API server to answer. Only a
# cluster that cannot be brought back is deleted and created anew, and that costs what it held.
lost="lost: the database's rows and everything deployed in the cluster (the registry's images stay)"
back_seconds="${KIND_NODE_BACK_SECONDS:-120}"
recreate() { # why
  step "cluster $cluster $1: deleting it to create it again; $lost"
  "$kind_bin" delete cluster --name "$cluster" --kubeconfig "$kubeconfig" >/dev/null 2>&1 || true
}
if "$kind_bin" get clusters 2>/dev/null | grep -qx "$cluster"; then
  node="$cluster-control-plane"
  if [ "$(docker inspect -f '{{.State.Running}}' "$node" 2>/dev/null)" != "true" ]; then
    if docker inspect "$node" >/dev/null 2>&1 && docker start "$node" >/dev/null 2>&1; then
      step "cluster $cluster: its node $node was stopped and is started again"
    else
      recreate "has no node that runs or can be started"
    fi
  fi
fi
if "$kind_bin" get clusters 2>/dev/null | grep -qx "$cluster"; then
  "$kind_bin" export kubeconfig --name "$cluster" --kubeconfig "$kubeconfig" >/dev/null 2>&1 || true
  deadline=$((SECONDS + back_seconds))
  waiting=0
  until kubectl get --raw=/readyz --request-timeout=5s >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then waiting=timeout; break; fi
    if [ "$waiting" = 0 ]; then
      waiting=1
      step "cluster $cluster does not answer /readyz yet: waiting up to ${back_seconds}s for its node to come back"
    fi
    sleep 2
  done
  if [ "$waiting" = timeout ]; then
    recreate "does not answer /readyz within ${back_seconds}s"
  elif [ "$waiting" = 1 ]; then
    step "cluster $cluster answers /readyz again"
  fi
fi
# A node older than a change that must reach clusters made before it (the node image's generation
# label, see deploy/kind-node/Dockerfile) cannot give the game day true answers: made anew.
if "$kind_bin" get clusters 2>/dev/null | grep -qx "$cluster"; then
  running_image="$(docker inspect -f '{{.Image}}' "$cluster-control-plane" 2>/dev/null || true)"
  have="$(label_of "$running_image" offgridflow.node-generation)"
  need="$(label_of "$KIND_NODE_IMAGE" offgridflow.node-generation)"
  [[ "$have" =~ ^[0-9]+$ ]] || have=1
  [[ "$need" =~ ^[0-9]+$ ]] || need=1
  if [ -n "$running_image" ] && [ "$have" -lt "$need" ]; then
    recreate "runs node generation $have, older than $KIND_NODE_IMAGE's $need ($(label_of "$KIND_NODE_IMAGE" offgridflow.node-generation.why))"
  fi
fi
if "$kind_bin" get clusters 2>/dev/null | grep -qx "$cluster"; then
  step "reusing kind cluster $cluster"
  # The cluster keeps the node image it was made from; a newer build is used only by a new cluster.
  # Builds compare by their inputs (the label kind-node-image.sh sets; a rebuild of the same inputs
  # gets another image ID), else by image ID.
  build_of() {
    local inputs
    inputs="$(label_of "$1" offgridflow.inputs)"
    if [ -n "$inputs" ]; then echo "$inputs"; else docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; fi
  }
  # (running_image: read above, with the node's generation)
  if [ -n "$running_image" ] && [ "$(build_of "$running_image")" != "$(build_of "$KIND_NODE_IMAGE")" ]; then
    step "note: its node runs an older build than $KIND_NODE_IMAGE; make kind-down kind-up makes the cluster anew with it ($lost)"
  fi
else
  step "creating kind cluster $cluster from $KIND_NODE_IMAGE"
  if ! "$kind_bin" create cluster --config kind-config.yaml --image "$KIND_NODE_IMAGE" \
      --kubeconfig "$kubeconfig" --wait 240s; then
    "$kind_bin" delete cluster --name "$cluster" >/dev/null 2>&1 || true
    fail "kind create cluster failed (see above); the half-made cluster was removed"
  fi
fi

# The registry the kubelet pulls from: on the kind network for the nodes, 127.0.0.1:$registry_port for us.
registry_image=offgridflow.local/kind/registry-debian:2.8
bash scripts/build-base-image.sh
build --network host -f deploy/kind-images/registry.Dockerfile -t "$registry_image" deploy/kind-images
if [ "$(docker inspect -f '{{.State.Running}} {{.Image}}' "$registry" 2>/dev/null)" \
    != "true $(docker image inspect -f '{{.Id}}' "$registry_image")" ]; then
  docker rm -f "$registry" >/dev/null 2>&1 || true
  step "starting registry $registry (127.0.0.1:$registry_port)"
  docker run -d --name "$registry" --restart unless-stopped --network kind \
    -p "127.0.0.1:$registry_port:5000" -v offgridflow-kind-registry:/var/lib/docker-registry \
    "$registry_image" >/dev/null
fi
for _ in $(seq 1 60); do
  curl -fsS "http://127.0.0.1:$registry_port/v2/" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$registry_port/v2/" >/dev/null || fail "registry $registry does not answer on 127.0.0.1:$registry_port"

# Each node's containerd: ghcr.io (the runbook's API image name) and offgridflow.local (our builds) come
# from that registry and nowhere else, so a tag missing there is a real pull failure.
for node in $("$kind_bin" get nodes --name "$cluster"); do
  for host in ghcr.io offgridflow.local; do
    docker exec "$node" mkdir -p "/etc/containerd/certs.d/$host"
    printf 'server = "http://%s:5000"\n\n[host."http://%s:5000"]\n  capabilities = ["pull", "resolve"]\n' \
      "$registry" "$registry" | docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/$host/hosts.toml"
  done
done

# The digest each image got in the registry, by its path there without the tag (kind/prometheus-gomod);
# read by the pinning below.
declare -A pushed_digest=()
push() { # local image, path in the registry
  docker tag "$1" "127.0.0.1:$registry_port/$2" && docker push -q "127.0.0.1:$registry_port/$2" >/dev/null
  local digest
  digest="$(docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "127.0.0.1:$registry_port/$2" \
    | sed -n "s|^127.0.0.1:$registry_port/${2%%:*}@||p" | head -n1)"
  pushed_digest["${2%%:*}"]="$digest"
  docker rmi "127.0.0.1:$registry_port/$2" >/dev/null
}

# the deployed tag and the one the runbook's Fix 4 sets (read from the runbook, not written here again)
tags="$("$python" -c 'from offgridflow_runbook.platforms.docker.names import CURRENT_API_TAG
from offgridflow_runbook.runbook.commands import known_good_tag
print(CURRENT_API_TAG, known_good_tag())')" || fail "cannot read the API tags (the runbook's Fix 4)"
read -r deployed_tag known_good_tag <<<"$tags"
# issue 22: the deploy gate's broken candidate (the defect switch baked in; never deployed by the overlay)
broken="$("$python" -c 'from offgridflow_runbook.platforms.docker.names import BROKEN_API_TAG, BROKEN_API_DEFECT
print(BROKEN_API_TAG, BROKEN_API_DEFECT)')" || fail "cannot read the gate's broken API tag"
read -r broken_tag broken_defect <<<"$broken"
# The synthetic monitor (components/synthetic-monitor) from the same wheelhouse, under the name its
# Deployment gives (read from there, not written here again); it pulls Always, so this build is what runs.
monitor_image="$("$python" -c 'import yaml
print(yaml.safe_load(open("deploy/kubernetes/components/synthetic-monitor/deployment.yaml"))["spec"]["template"]["spec"]["containers"][0]["image"])')" \
  || fail "cannot read the synthetic monitor's image from its Deployment"
# Each image is built only when its inputs changed, as make up's builds of the same Dockerfiles: the
# inputs hash (sources, lock, Dockerfile, base image) plus the tag and build arguments is its label.
# A warm kind-up builds nothing and only pushes, which costs little: the registry has the layers.
inputs="$("$python" -m offgridflow_runbook.environments.local inputs)" \
  || fail "cannot hash the API's and the monitor's inputs (above)"
for pair in $inputs; do
  case "$pair" in label=*) inputs_label="${pair#label=}" ;; api=*) api_inputs="${pair#api=}" ;; monitor=*) monitor_inputs="${pair#monitor=}" ;; esac
done
[ -n "${inputs_label:-}" ] && [ -n "${api_inputs:-}" ] && [ -n "${monitor_inputs:-}" ] \
  || fail "the inputs hashes are incomplete: $inputs"
declare -A wanted=(  # image -> its label value
  ["$api_repository:$deployed_tag"]="$api_inputs $deployed_tag"
  ["$api_repository:$known_good_tag"]="$api_inputs $known_good_tag"
  ["$api_repository:$broken_tag"]="$api_inputs $broken_tag OFFGRIDFLOW_DEFECT=$broken_defect"
  ["$monitor_image"]="$monitor_inputs"
)
stale=()
for image in "${!wanted[@]}"; do
  [ "$(label_of "$image" "$inputs_label")" = "${wanted[$image]}" ] || stale+=("$image")
done
if [ "${#stale[@]}" -gt 0 ]; then
  step "building ${stale[*]} ($deployed_tag deployed, $known_good_tag Fix 4's known-good tag, $broken_tag the gate's broken candidate)"
  # the same lock as the local stack's API build: one wheelhouse folder serves both
  exec 9>/tmp/offgridflow-api-images.lock
  flock -w 900 9
  "$python" -m offgridflow_runbook.environments.local wheelhouse
  for image in "${stale[@]}"; do
    if [ "$image" = "$monitor_image" ]; then
      build --network host -f deploy/docker/monitor.Dockerfile --label "$inputs_label=${wanted[$image]}" \
        -t "$image" deploy/docker
      continue
    fi
    tag="${image##*:}"
    defect=()
    # issue 22: the same build with one build argument more (the gate's "becomes ready, fails Verification 3")
    [ "$tag" = "$broken_tag" ] && defect=(--build-arg "OFFGRIDFLOW_DEFECT=$broken_defect")
    build --network host -f deploy/docker/api.Dockerfile --build-arg "OFFGRIDFLOW_VERSION=${tag#v}" \
      "${defect[@]}" --label "$inputs_label=${wanted[$image]}" -t "$image" deploy/docker
  done
  flock -u 9
  exec 9>&-
  # the builds took their tags from earlier builds: those are left dangling (a few hundred MB each)
  docker image prune -f --filter "label=$inputs_label" >/dev/null
else
  step "the API's and the synthetic monitor's images are up to date (their inputs did not change)"
fi
step "pushing the API images and the synthetic monitor's image to $registry"
for image in "${!wanted[@]}"; do
  inventory "$image"  # a build made by another checkout has none beside this one yet
  push "$image" "${image#ghcr.io/}"
done
# The pods pull IfNotPresent: a node that has an older build under the same tag would keep it, so each
# node pulls the tags again now (new pods then run this checkout's code; running pods are left alone).
for node in $("$kind_bin" get nodes --name "$cluster"); do
  for tag in "$deployed_tag" "$known_good_tag" "$broken_tag"; do
    docker exec "$node" crictl pull "$api_repository:$tag" >/dev/null
  done
done

if [ "$offline" = 1 ]; then
  # their Go binaries are built only now (with the node's they would delay the cluster; the early
  # toolchain run of `make test` has usually built them by now)
  step "the monitoring binaries (tools/cluster)"
  bash tools/cluster/build.sh monitoring
  step "building and pushing the monitoring images (Debian packages, Go modules)"
  for name in alertmanager:0.25 postgres-exporter:0.11 postgres:15; do
    image="offgridflow.local/kind/${name%%:*}-debian:${name#*:}"
    build --network host -f "deploy/kind-images/${name%%:*}.Dockerfile" -t "$image" deploy/kind-images
    push "$image" "kind/${name%%:*}-debian:${name#*:}"
  done
  for name in kube-state-metrics:v2.15.0 metrics-server:v0.8.0 prometheus:v2.54.1; do
    binary="${name%%:*}"
    context_dir="$(mktemp -d)"
    cp "$cache/bin/$binary" deploy/kind-images/gomod-binary.Dockerfile "$context_dir/"
    image="offgridflow.local/kind/$binary-gomod:${name#*:}"
    build --build-arg "BINARY=$binary" -f "$context_dir/gomod-binary.Dockerfile" -t "$image" "$context_dir"
    rm -rf "$context_dir"
    push "$image" "kind/$binary-gomod:${name#*:}"
  done
fi

# A fault a killed game day left in place on a Kubernetes target (the fault ledger): named, not undone.
"$python" -m offgridflow_runbook.ledger --platform kubernetes || true

profile="${OFFGRIDFLOW_ALERT_PROFILE:-fast}"
step "applying $overlay with the $profile alert profile (.state/kind/overlay)"
"$python" -m offgridflow_runbook.alerting.profiles "$profile" "$overlay" .state/kind/overlay >/dev/null \
  || fail "cannot render the $profile alert profile (see above)"
# The images built here for the offline overlay are pulled IfNotPresent under fixed tags, so a node that
# already holds a tag would keep its old build for ever (a reused cluster kept running a Prometheus and
# a PostgreSQL that had been rebuilt since). Pinned by the digest just pushed, a rebuilt image changes
# its pod template and is rolled out; an unchanged one changes nothing.
if [ "$offline" = 1 ]; then
  pins=""
  for path in "${!pushed_digest[@]}"; do
    [[ "$path" == kind/* ]] || continue  # the offline overlay's images (the API's keep their tags)
    [ -n "${pushed_digest[$path]}" ] || fail "the registry gave no digest for $path"
    pins="$pins- name: offgridflow.local/$path"$'\n'"  digest: ${pushed_digest[$path]}"$'\n'
  done
  printf '# kind-up: the offline images by the digest pushed\nimages:\n%s' "$pins" >> .state/kind/overlay/kustomization.yaml
fi
kubectl apply -k .state/kind/overlay >/dev/null
# A node that restarted (above) brought its pods back with a restart each that is not theirs: the
# runbook's workloads are handed over as a new cluster has them, for triage and for the tests that count
# restarts (environments/outlived.py; the monitoring's pods keep theirs).
"$python" -m offgridflow_runbook.environments.outlived --node "$cluster-control-plane" --namespace offgridflow \
  --deadline "$timeout_seconds" -- "$kubectl_bin" --kubeconfig "$kubeconfig" --context "$context" \
  || fail "the pods that outlived the node's restart (above)"
# A StatefulSet does not replace a pod that never became ready on an older revision (it waits for it
# forever): such a pod is deleted so that the new template (e.g. a fixed image) gets its turn.
update_revision="$(kubectl -n offgridflow get statefulset postgres -o jsonpath='{.status.updateRevision}')"
for pod in $(kubectl -n offgridflow get pods -l app=postgres -o name); do
  revision="$(kubectl -n offgridflow get "$pod" -o jsonpath='{.metadata.labels.controller-revision-hash}')"
  ready="$(kubectl -n offgridflow get "$pod" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
  if [ "$revision" != "$update_revision" ] && [ "$ready" != "True" ]; then
    step "replacing $pod (revision $revision, never ready) with revision $update_revision"
    kubectl -n offgridflow delete "$pod" --wait=false >/dev/null
  fi
done
kubectl -n offgridflow rollout status statefulset/postgres --timeout="$timeout"
kubectl -n offgridflow rollout status deployment/offgridflow-api --timeout="$timeout"
for deployment in prometheus alertmanager kube-state-metrics; do
  kubectl -n monitoring rollout status "deployment/$deployment" --timeout="$timeout"
done
kubectl -n kube-system rollout status deployment/metrics-server --timeout="$timeout"
# and the metrics API that kubectl top and triage's usage read: after a node's restart metrics-server
# may still be in its first run, which ends (exit 2) when the cluster's service address is not routed yet
kubectl wait --for=condition=Available apiservice/v1beta1.metrics.k8s.io --timeout="$timeout" >/dev/null \
  || fail "the metrics API (metrics-server) is not available: kubectl -n kube-system logs deploy/metrics-server"
# A Prometheus that has just rolled out (a changed rule or profile) evaluates before its first scrapes,
# and in the fast profile its alerts on a missing series fire within seconds: "up" waits until every
# target is scraped and no runbook alert is pending or firing (said, not fatal, when it does not).
prometheus_url=http://127.0.0.1:19090  # kind-config.yaml's port mapping of the Prometheus NodePort
"$python" -m offgridflow_runbook.environments.settle "$prometheus_url" \
  --deadline "${KIND_SETTLE_SECONDS:-120}" || step "the cluster is up, but its monitoring is not quiet (above)"
# The cluster's API token for the checks (source .state/kind/env), read from its Secret; never printed.
token="$(kubectl -n offgridflow get secret offgridflow-secrets -o jsonpath='{.data.OFFGRIDFLOW_API_TOKENS}' | base64 -d | cut -d, -f1)"
(umask 077 && printf 'export OFFGRIDFLOW_TOKEN=%q\nexport KUBECONFIG=%q\n' "$token" "$(realpath "$kubeconfig")" > "$(dirname "$kubeconfig")/env")
step "kind cluster $cluster is up: API http://127.0.0.1:18080, metrics :18081, Prometheus $prometheus_url, Alertmanager :19093, alert receiver :19095 (kubeconfig $kubeconfig, context $context; source $(dirname "$kubeconfig")/env for the token)"
