#!/usr/bin/env bash
# Makes sure the image debian:bookworm-slim exists in the local Docker Engine.
# Order: already there (nothing to do) -> pull, when a pull can succeed -> build it with debootstrap +
# `docker import`. The debootstrap mirror is the host's own Debian mirror (from
# /etc/apt/sources.list[.d]), so this works on machines that reach Debian's package mirror but not
# the image registry.
#   OFFGRIDFLOW_OFFLINE=1              never pull (the machine reaches no image registry)
#   OFFGRIDFLOW_PULL_PROBE_SECONDS     how long the registry gets to answer (default 8)
# A pull is tried when the machine says it can pull (GitHub Actions, a registry mirror or proxy
# configured in the Docker Engine), else only when the registry answers the engine within a few
# seconds: a machine that cannot pull loses at most that, never a pull's long time-out.
set -euo pipefail

image="${BASE_IMAGE:-debian:bookworm-slim}"
probe_seconds="${OFFGRIDFLOW_PULL_PROBE_SECONDS:-8}"
pull_seconds=300

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi

pull_can_succeed() {
  [ "${OFFGRIDFLOW_OFFLINE:-0}" = 1 ] && { echo "not pulling $image: OFFGRIDFLOW_OFFLINE=1"; return 1; }
  [ "${GITHUB_ACTIONS:-}" = true ] && return 0
  [ -n "$(docker info --format '{{range .RegistryConfig.Mirrors}}{{.}}{{end}}{{.HTTPSProxy}}' 2>/dev/null)" ] && return 0
  timeout "$probe_seconds" docker search --limit 1 "${image%%:*}" >/dev/null 2>&1 && return 0
  echo "not pulling $image: its registry does not answer within ${probe_seconds} s (no mirror or proxy configured)"
  return 1
}
if pull_can_succeed; then
  if timeout "$pull_seconds" docker pull -q "$image" >/dev/null 2>&1; then
    echo "pulled $image"
    exit 0
  fi
  echo "pulling $image failed: building it instead"
fi

mirror_from_host() {
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -E 'debian/?($| )' | grep -v security | head -n1 \
    | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//')
  echo "${uri:-http://deb.debian.org/debian}"
}

if ! command -v debootstrap >/dev/null; then
  echo "error: $image was not pulled and debootstrap is missing: apt-get install debootstrap" >&2
  exit 1
fi
mirror="$(mirror_from_host)"
rootfs="$(mktemp -d /tmp/offgridflow-rootfs.XXXXXX)"
trap 'rm -rf "$rootfs"' EXIT
echo "building $image with debootstrap from $mirror (takes a few minutes)"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  echo "error: debootstrap failed, see $rootfs.log" >&2
  exit 1
}
# The same trimming the official slim image does: no docs, man pages or apt lists.
rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
cp /etc/apt/sources.list "$rootfs/etc/apt/sources.list" 2>/dev/null || true
if [ -d /etc/apt/sources.list.d ]; then
  # Only Debian's own sources; third-party repositories of the host stay out of the image.
  for source in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$source" ] && grep -q 'debian' "$source" && ! grep -qE 'google|nodesource' "$source" && cp "$source" "$rootfs/etc/apt/sources.list.d/"
  done
fi
tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$image" >/dev/null
rm -f "$rootfs.log"
echo "built $image locally"
