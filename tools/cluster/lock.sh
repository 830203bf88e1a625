# Sourced by build.sh and build-kubernetes.sh: the lock under which one build of a module runs, so
# that runs at once (make test's early build and the kind tier's kind-up) never build it twice.

# Holds $out/.locks/<name>.lock on fd 8 until the caller closes it (exec 8>&-); when another run
# holds it, says that it waits for <what> and when it began to.
hold_build_lock() { # name what
  mkdir -p "$out/.locks"
  exec 8>"$out/.locks/$1.lock"
  if ! flock -n 8; then
    echo "waiting for $2: another build of it is under way ($(date +%T))"
    flock 8
  fi
}
