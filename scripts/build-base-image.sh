#!/usr/bin/env bash
# Makes sure the image debian:bookworm-slim exists in the local Docker Engine.
# Order: already there (nothing to do) -> pull -> build it with debootstrap + `docker import`.
# The debootstrap mirror is the host's own Debian mirror (from /etc/apt/sources.list[.d]), so this
# works on machines that reach Debian's package mirror but not Docker Hub.
set -euo pipefail

image="${BASE_IMAGE:-debian:bookworm-slim}"

if docker image inspect "$image" >/dev/null 2>&1; then
  exit 0
fi
if timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
  echo "pulled $image"
  exit 0
fi

mirror_from_host() {
  local uri
  uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | grep -E 'debian/?($| )' | grep -v security | head -n1 \
    | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//')
  echo "${uri:-http://deb.debian.org/debian}"
}

if ! command -v debootstrap >/dev/null; then
  echo "error: $image cannot be pulled and debootstrap is missing: apt-get install debootstrap" >&2
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
