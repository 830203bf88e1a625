#!/usr/bin/env bash
# make test's pytest run in two tiers side by side: `docker` (the e2e tests on the local Docker stack)
# and `kind` (the kind cluster's tests, then the unit and integration tests). They share nothing but
# the CPU and the Docker Engine: the kind tests work on the cluster's node container, the e2e tests on
# the stack's containers, the units on throw-away servers of their own; what both build (the API
# wheelhouse) is behind one lock. The Docker e2e tests are the longest and mostly wait on alerts, so
# they get a tier to themselves and the units fill the other one: the run takes about as long as its
# longer tier instead of the sum.
#
# Usage: scripts/test-tiers.sh [pytest options...]   (OFFGRIDFLOW_TIERS=serial runs them one after the other)
# Each tier's output streams with its name in front ([kind] / [docker]) and is kept whole in
# reports/tiers/<tier>.log with its JUnit in reports/tiers/<tier>.xml. Exit 0 only when both tiers
# passed; the last line counts the tests of both.
set -uo pipefail
cd "$(dirname "$0")/.."

python=.venv/bin/python
reports=reports/tiers
mkdir -p "$reports"
rm -f "$reports"/*.rc

run_tier() {
  local name=$1 marker=$2
  shift 2
  # stdbuf: pytest's lines reach the prefixing sed as they are written, not when a buffer fills
  { stdbuf -oL -eL "$python" -m pytest tests -m "$marker" -p no:cacheprovider \
      --junitxml="$reports/$name.xml" "$@" 2>&1; echo $? > "$reports/$name.rc"; } \
    | tee "$reports/$name.log" | sed -u "s/^/[$name] /"
}

# the two marker expressions split the suite: every test is in exactly one tier
DOCKER_TIER="e2e and not kind"
KIND_TIER="not ($DOCKER_TIER)"
started=$SECONDS
if [ "${OFFGRIDFLOW_TIERS:-parallel}" = serial ]; then
  run_tier docker "$DOCKER_TIER" "$@"
  run_tier kind "$KIND_TIER" "$@"
else
  # Job control: each tier in a process group of its own, and SIGINT not ignored in it (a shell
  # without job control starts background jobs with SIGINT ignored, and pytest would not stop).
  set -m
  run_tier kind "$KIND_TIER" "$@" &
  kind_pid=$!
  run_tier docker "$DOCKER_TIER" "$@" &
  docker_pid=$!
  set +m
  # Ctrl-C, or a scheduler's SIGTERM, interrupts both tiers as Ctrl-C would (their clean-up runs)
  trap 'kill -INT -- "-$kind_pid" "-$docker_pid" 2>/dev/null' INT TERM
  while kill -0 "$kind_pid" 2>/dev/null || kill -0 "$docker_pid" 2>/dev/null; do
    wait "$kind_pid" "$docker_pid"
  done
  trap - INT TERM
fi

status=0
for tier in docker kind; do
  rc=$(cat "$reports/$tier.rc" 2>/dev/null || echo 2)
  summary=$(grep -E '(passed|failed|error|no tests ran|deselected).* in [0-9.]+s' "$reports/$tier.log" | tail -1)
  echo "tier $tier: exit $rc: ${summary:-no pytest summary (see $reports/$tier.log)}"
  # 5 is pytest's "no tests collected": a failure for a whole run, fine for a tier that options
  # such as -k leave without a test (the closing line below still fails a run of no test at all)
  if [ "$rc" != 0 ] && ! { [ "$rc" = 5 ] && [ $# -gt 0 ]; }; then status=1; fi
done
echo "tiers took $((SECONDS - started)) s (${OFFGRIDFLOW_TIERS:-parallel})"
# every failed or erroring test by name, again at the end: a CI log is often read from its tail only
for tier in docker kind; do
  grep -E '^(FAILED|ERROR) ' "$reports/$tier.log" 2>/dev/null | sed "s/^/[$tier] /"
done
# the triage corpus' two figures and every miss, as the tier that ran the corpus tests printed them,
# again at the end, where they are read (in the tiers' interleaved output they scroll away)
for tier in docker kind; do
  awk '/-- triage scenario corpus --/ {on = 1; next} on && /^(=+|-+) / {on = 0} on' "$reports/$tier.log" 2>/dev/null
done
# one closing line for both tiers, counted from their JUnit reports
"$python" - "$reports/docker.xml" "$reports/kind.xml" <<'EOF' || status=1
import sys
import xml.etree.ElementTree as ElementTree

totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for path in sys.argv[1:]:
    try:
        root = ElementTree.parse(path).getroot()  # noqa: S314 - our own pytest wrote it
    except (OSError, ElementTree.ParseError):
        print(f"no JUnit report at {path}")
        sys.exit(1)
    for suite in root.iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"tests: {passed} passed, {failed} failed, {totals['skipped']} skipped")
sys.exit(1 if totals["tests"] == 0 else 0)
EOF
exit $status
