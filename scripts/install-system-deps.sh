#!/usr/bin/env bash
# Installs the Debian packages the suite needs on this machine (idempotent; quiet when all are there).
# The containers of the local stack get theirs inside `docker build`; this is only the host's part.
set -euo pipefail

packages=(
  postgresql            # a real PostgreSQL for the service's integration tests, pg_isready
  prometheus            # promtool for the alert-rule tests
  prometheus-alertmanager  # amtool to check the Alertmanager configuration
  docker.io             # the Docker Engine for the local stack
  docker-registry       # the local image registry (also installed inside the stack's tools image)
  prometheus-postgres-exporter  # PostgreSQL metrics for the PostgreSQLDown alert
  debootstrap           # builds debian:bookworm-slim when it cannot be pulled
  curl                  # runs the runbook's curl lines (offgridflow-runbook drift)
  chromium              # headless, for the operator game day's live view in a real browser
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

# The local stack needs a running Docker Engine: start one (loopback only, no bridge) and say so.
ensure_dockerd() {
  command -v dockerd >/dev/null || return 0
  docker info >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "note: dockerd is not running; start it as root (sudo make up starts it)" >&2
    return 0
  fi
  mkdir -p .state
  echo "dockerd is not running: starting it (log: .state/dockerd.log)"
  local runtime=()
  # kind starts its nodes --privileged; on a VM whose capability bounding set is short (no
  # CAP_SYS_RESOURCE) runc refuses that. offgridflow-runc drops the missing capabilities, then runs runc.
  if shim="$(bash tools/cluster/build-capshim.sh 2>>.state/dockerd.log)"; then
    runtime=(--add-runtime "offgridflow-runc=$shim" --default-runtime offgridflow-runc)
  else
    echo "note: offgridflow-runc could not be built (see .state/dockerd.log): kind nodes will not start here" >&2
  fi
  setsid dockerd --bridge=none --iptables=false --ip6tables=false "${runtime[@]}" >>.state/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    docker info >/dev/null 2>&1 && { echo "dockerd is running"; return 0; }
    sleep 0.5
  done
  echo "error: dockerd did not answer within 60s; see .state/dockerd.log" >&2
  return 1
}

if [ ${#missing[@]} -eq 0 ]; then
  ensure_dockerd
  exit 0
fi

if [ ! -r /etc/debian_version ] || ! command -v apt-get >/dev/null; then
  echo "error: missing packages ${missing[*]}, and this is not a Debian machine: install them with your package manager" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing Debian packages: ${missing[*]}. Install them as root: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
ensure_dockerd
