# Sourced by the kind scripts. docker build, quiet: its output (and the CLI's legacy-builder notice)
# only when it fails; then the caller's fail() ends the script.
build() {
  local log
  log="$(mktemp)"
  if ! docker build "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    fail "docker build failed: docker build $*"
  fi
  rm -f "$log"
}
