#!/usr/bin/env bash
# Installs the Debian packages the suite needs on this machine (idempotent; quiet when all are there).
# The containers of the local stack get theirs inside `docker build`; this is only the host's part.
set -euo pipefail

packages=(
  postgresql            # a real PostgreSQL for the service's integration tests, pg_isready
  prometheus            # promtool for the alert-rule tests
  prometheus-alertmanager  # amtool to check the Alertmanager configuration
  docker.io             # the Docker Engine for the local stack
  debootstrap           # builds debian:bookworm-slim when it cannot be pulled
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
