# Sourced by the kind scripts. docker build, quiet: its output (and the CLI's legacy-builder notice)
# only when it fails; then the caller's fail() ends the script. Each image built gets its Debian
# package inventory beside it (inventory below).
build() {
  local log tags=() previous="" argument tag
  log="$(mktemp)"
  if ! docker build "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    fail "docker build failed: docker build $*"
  fi
  rm -f "$log"
  for argument in "$@"; do
    case "$previous" in -t|--tag) tags+=("$argument") ;; esac
    case "$argument" in --tag=*) tags+=("${argument#--tag=}") ;; esac
    previous="$argument"
  done
  for tag in "${tags[@]}"; do inventory "$tag"; done
}

# What Debian packages the image got, in the format of src/offgridflow_runbook/environments/local/
# inventory.py: "# image:" and "# id:" lines, then dpkg-query's "package<TAB>version" lines, sorted;
# an image without dpkg-query (FROM scratch) says so. Written to $OFFGRIDFLOW_INVENTORY_DIR, else
# .state/images of the folder the script runs in (the repository root).
inventory() {
  local image="$1" dir="${OFFGRIDFLOW_INVENTORY_DIR:-$PWD/.state/images}" file id packages status=0
  mkdir -p "$dir"
  file="$dir/$(printf '%s' "$image" | tr '/:@' '___').dpkg"
  id="$(docker image inspect --format '{{.Id}}' "$image")" || fail "docker image inspect $image failed"
  # a build the cache answered is the same image: its inventory stands (kind-up rebuilds every run)
  if [ -f "$file" ] && grep -qxF "# id: $id" "$file"; then return 0; fi
  # shellcheck disable=SC2016 # dpkg-query's format, not a shell expansion
  packages="$(docker run --rm --network none --user 0 --entrypoint dpkg-query "$image" \
    -W -f '${Package}\t${Version}\n' 2>/dev/null)" || status=$?
  case "$status" in
    0 | 126 | 127) ;;
    *) fail "dpkg-query in $image failed (exit $status)" ;;
  esac
  {
    echo "# image: $image"
    echo "# id: $id"
    if [ "$status" = 0 ]; then
      printf '%s\n' "$packages" | LC_ALL=C sort
    else
      echo "# no dpkg-query in the image: no Debian packages (FROM scratch)"
    fi
  } >"$file.tmp"
  mv "$file.tmp" "$file"
}
