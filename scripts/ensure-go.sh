#!/usr/bin/env bash
# Prints the path of a `go` new enough for every module under tools/cluster (the highest `go` line of
# their go.mod files, e.g. 1.24.4), getting one when this machine has none. In this order:
#   1. a go here that is new enough: `go` on PATH, then $OFFGRIDFLOW_GO_CANDIDATES
#   2. a go here that is 1.21 or newer: it fetches that exact toolchain (go1.24.4) through the Go module
#      proxy (GOTOOLCHAIN; kept in Go's module cache, so the next run finds it without the network)
#   3. Debian with a golang-1.NN-go package (NN >= 21) in its apt sources, e.g. from bookworm-backports:
#      installed as root, then 1 or 2
# Otherwise it stops with one line on stderr naming the command to run (exit 1).
# Progress goes to stderr; stdout is the go binary's path and nothing else, so callers can do
#   go="$(bash scripts/ensure-go.sh)" && PATH="$(dirname "$go"):$PATH"
#   OFFGRIDFLOW_GO_CANDIDATES  where else to look, globs (default: /usr/local/go/bin/go /usr/lib/go-1.*/bin/go)
#   OFFGRIDFLOW_GO_PURPOSE     what the caller needs Go for, in the error line (default: to build tools/cluster)
set -euo pipefail
cluster="$(cd "$(dirname "$0")/../tools/cluster" && pwd)"
purpose="${OFFGRIDFLOW_GO_PURPOSE:-to build tools/cluster}"
candidates="${OFFGRIDFLOW_GO_CANDIDATES-/usr/local/go/bin/go /usr/lib/go-1.*/bin/go}"
# Go 1.21 is the first go command that can fetch another toolchain (GOTOOLCHAIN).
can_fetch=1.21.0

fail() { echo "error: $*" >&2; exit 1; }
say() { echo "ensure-go: $*" >&2; }

# 1.24 -> 1.24.0; a pre-release (1.25rc1) counts as older than its .0 and newer than the minor before.
normalize() {
  local version="$1" pre=""
  if [[ "$version" =~ ^([0-9]+)\.([0-9]+)(rc|beta)[0-9]*$ ]]; then
    echo "${BASH_REMATCH[1]}.$((BASH_REMATCH[2] - 1)).9999"
    return
  fi
  [[ "$version" =~ ^[0-9]+\.[0-9]+$ ]] && pre=".0"
  echo "$version$pre"
}
at_least() { [ "$(printf '%s\n%s\n' "$(normalize "$1")" "$(normalize "$2")" | sort -V | head -n1)" = "$(normalize "$2")" ]; }

# The binary's own version (never a toolchain its go.mod would switch to).
version_of() {
  (cd / && GOTOOLCHAIN=local "$1" version 2>/dev/null) | sed -nE 's/^go version go([0-9][^ ]*) .*/\1/p' | head -n1
}

need="$(awk '$1 == "go" {print $2}' "$cluster"/*/go.mod | while read -r v; do normalize "$v"; done | sort -V | tail -n1)"
[ -n "$need" ] || fail "no go line in $cluster/*/go.mod"

# Every go binary here with its version, best (newest) first.
found=()
list_gos() {
  local bin version
  found=()
  # shellcheck disable=SC2086  # the candidates are globs
  for bin in "$(command -v go || true)" $candidates; do
    [ -n "$bin" ] && [ -x "$bin" ] || continue
    version="$(version_of "$bin")"
    [ -n "$version" ] && found+=("$version $bin")
  done
  if [ "${#found[@]}" -gt 0 ]; then
    mapfile -t found < <(printf '%s\n' "${found[@]}" | sort -V -r -k1,1 -s)
  fi
}

fetch_with() { # base go (>= 1.21) -> the fetched toolchain's go, or a failure naming why
  local base="$1" root output
  say "fetching the go$need toolchain with $base (GOTOOLCHAIN=go$need, through the Go module proxy)"
  if ! output="$(cd / && GOTOOLCHAIN="go$need" "$base" env GOROOT 2>&1)"; then
    fail "cannot fetch Go $need with $base: $(tail -n1 <<<"$output"); fix GOPROXY/the network and run again, or install Go $need+ and put it on PATH"
  fi
  root="$(tail -n1 <<<"$output")"
  [ -x "$root/bin/go" ] && at_least "$(version_of "$root/bin/go")" "$need" \
    || fail "GOTOOLCHAIN=go$need $base env GOROOT gave $root, which holds no go $need"
  echo "$root/bin/go"
}

choose() { # prints a go path and returns 0, or returns 1 when nothing here can do
  local entry version bin
  for entry in "${found[@]}"; do
    version="${entry%% *}"; bin="${entry#* }"
    if at_least "$version" "$need"; then echo "$bin"; return 0; fi
  done
  for entry in "${found[@]}"; do
    version="${entry%% *}"; bin="${entry#* }"
    if at_least "$version" "$can_fetch"; then fetch_with "$bin"; return 0; fi
  done
  return 1
}

list_gos
if choose; then exit 0; fi

have="none"
[ "${#found[@]}" -gt 0 ] && have="go${found[0]% *} at ${found[0]#* }, too old to fetch a toolchain (< $can_fetch)"
command -v apt-cache >/dev/null && command -v apt-get >/dev/null \
  || fail "Go $need+ is needed $purpose (found: $have): install Go $need or newer and put it on PATH"

# The newest golang-1.NN-go (NN >= 21) that apt can install, e.g. from bookworm-backports.
package="$(apt-cache pkgnames golang-1. 2>/dev/null | grep -E '^golang-1\.[0-9]+-go$' | sort -V -r | while read -r name; do
  minor="${name#golang-1.}"; minor="${minor%-go}"
  [ "$minor" -ge 21 ] || continue
  apt-cache policy "$name" 2>/dev/null | grep -qE '^[[:space:]]*Candidate:[[:space:]]*[0-9]' && { echo "$name"; break; }
done || true)"
if [ -z "$package" ]; then
  codename="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-bookworm}")"
  fail "Go $need+ is needed $purpose (found: $have) and apt offers no golang-1.21 or newer: add ${codename:-bookworm}-backports to the apt sources, then as root: apt-get update && apt-get install -y -t ${codename:-bookworm}-backports golang-go"
fi
if [ "$(id -u)" -ne 0 ]; then
  fail "Go $need+ is needed $purpose (found: $have): as root run apt-get install -y $package, then run this again"
fi
say "installing $package (apt) to get a go that can fetch go$need"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >&2 \
  || fail "apt-get install -y $package failed (see above)"
list_gos
choose || fail "$package is installed but no go $can_fetch+ was found (looked at PATH and $candidates)"
