#!/usr/bin/env bash
# make test's pytest run in three tiers side by side: `docker` (the e2e tests on the local Docker
# stack), `kind` (the kind cluster's tests) and `units` (the unit and integration tests). They share
# nothing but the CPU and the Docker Engine: the kind tests work on the cluster's node container, the
# e2e tests on the stack's containers, the units on throw-away servers of their own; what they build
# (the API wheelhouse) is behind one lock. The e2e and kind tests mostly wait (on alerts, kubelet,
# rollouts) while the units mostly compute, so side by side the run takes about as long as its longest
# tier instead of the sum.
#
# Usage: scripts/test-tiers.sh [pytest options...]   (OFFGRIDFLOW_TIERS=serial runs them one after the other)
# Each tier's output streams with its name in front ([docker] / [kind] / [units]) and is kept whole in
# reports/tiers/<tier>.log with its JUnit in reports/tiers/<tier>.xml. Exit 0 only when every tier
# passed; the last line counts the tests of all of them.
set -uo pipefail
cd "$(dirname "$0")/.."

python=.venv/bin/python
reports=reports/tiers
mkdir -p "$reports"
rm -f "$reports"/*.rc

run_tier() {
  local name=$1 marker=$2 paths=$3
  shift 3
  # The units compute; the e2e and kind tiers mostly wait, but what they wait for (alert timings,
  # rollouts, the stack's and the node's containers) needs the CPU at once when it comes. So the
  # units run at a lower priority: they take the cores the others leave idle (they finish minutes
  # before the longest tier either way), and the measured times of the others are not the units'.
  local priority=() output=()
  [ "$name" = units ] && priority=(nice -n 10)
  # What an e2e or kind test prints (its measured times: where the node restart's minutes went) is
  # kept in the JUnit report of passing tests too; the units' thousands of tests print little
  [ "$name" != units ] && output=(-o junit_logging=system-out)
  # stdbuf: pytest's lines reach the prefixing sed as they are written, not when a buffer fills
  # shellcheck disable=SC2086 # $paths is a list of directories, split on purpose
  { "${priority[@]}" stdbuf -oL -eL "$python" -m pytest $paths -m "$marker" -p no:cacheprovider \
      --junitxml="$reports/$name.xml" "${output[@]}" "$@" 2>&1; echo $? > "$reports/$name.rc"; } \
    | tee "$reports/$name.log" | sed -u "s/^/[$name] /"
}

# the three marker expressions split the suite: every test is in exactly one tier. Each tier collects
# only the directories its tests are in: a whole-suite collection costs ~10 s of CPU and a quarter of
# a minute at the start of the longest tier, where all three tiers start at once. Every e2e and kind
# test is in its tier's directories (tests/scripts/test_test_tiers.py collects the whole suite to show it).
DOCKER_TIER="e2e and not kind"
DOCKER_PATHS="tests/e2e tests/environments/local"
KIND_TIER="kind"
KIND_PATHS="tests/kind"
UNITS_TIER="not e2e and not kind"
UNITS_PATHS="tests"
TIERS="docker kind units"
started=$SECONDS
if [ "${OFFGRIDFLOW_TIERS:-parallel}" = serial ]; then
  run_tier docker "$DOCKER_TIER" "$DOCKER_PATHS" "$@"
  run_tier kind "$KIND_TIER" "$KIND_PATHS" "$@"
  run_tier units "$UNITS_TIER" "$UNITS_PATHS" "$@"
else
  # Job control: each tier in a process group of its own, and SIGINT not ignored in it (a shell
  # without job control starts background jobs with SIGINT ignored, and pytest would not stop).
  set -m
  run_tier kind "$KIND_TIER" "$KIND_PATHS" "$@" &
  run_tier docker "$DOCKER_TIER" "$DOCKER_PATHS" "$@" &
  run_tier units "$UNITS_TIER" "$UNITS_PATHS" "$@" &
  set +m
  # Ctrl-C, or a scheduler's SIGTERM, interrupts every tier still running as Ctrl-C would (their
  # clean-up runs). Which are running is the shell's own job table, never `kill -0 PID`: a long run
  # starts so many processes that PIDs wrap (pid_max 32768 here), and a finished tier's PID or group
  # then belongs to someone else (fresh-clone run 22 spun forever on a container's process that had
  # a finished tier's PID; a Ctrl-C would have signalled its group).
  trap 'for job in $(jobs -pr); do kill -INT -- "-$job" 2>/dev/null; done' INT TERM
  # `wait` returns above 128 when a trapped signal interrupts it, with the tiers still cleaning up:
  # wait again until every tier has ended
  until wait; do :; done
  trap - INT TERM
fi

status=0
for tier in $TIERS; do
  rc=$(cat "$reports/$tier.rc" 2>/dev/null || echo 2)
  summary=$(grep -E '(passed|failed|error|no tests ran|deselected).* in [0-9.]+s' "$reports/$tier.log" | tail -1)
  echo "tier $tier: exit $rc: ${summary:-no pytest summary (see $reports/$tier.log)}"
  # 5 is pytest's "no tests collected": a failure for a whole run, fine for a tier that options
  # such as -k leave without a test (the closing line below still fails a run of no test at all)
  if [ "$rc" != 0 ] && ! { [ "$rc" = 5 ] && [ $# -gt 0 ]; }; then status=1; fi
done
echo "tiers took $((SECONDS - started)) s (${OFFGRIDFLOW_TIERS:-parallel})"
# the triage corpus' two figures and every miss, as the tier that ran the corpus tests printed them,
# again at the end, where they are read (in the tiers' interleaved output they scroll away)
for tier in $TIERS; do
  awk '/-- triage scenario corpus --/ {on = 1; next} on && /^(=+|-+) / {on = 0} on' "$reports/$tier.log" 2>/dev/null
done
# every failed or erroring test, again at the end with its tier and the first lines of its message
# (a CI log is often read from its tail only, and pytest's own short summary cuts the message to the
# terminal's width), then one closing line for every tier, counted from their JUnit reports
"$python" - "$reports/docker.xml" "$reports/kind.xml" "$reports/units.xml" <<'EOF' || status=1
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def node_id(classname: str, name: str) -> str:
    """pytest's node id again from JUnit's dotted classname (the longest prefix that is a file)."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        if Path(*parts[:cut]).with_suffix(".py").is_file():
            return "::".join(["/".join(parts[:cut]) + ".py", *parts[cut:], name])
    return f"{classname}::{name}"


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
    tier = Path(path).stem
    for case in root.iter("testcase"):
        for kind, word in (("failure", "FAILED"), ("error", "ERROR")):
            for problem in case.findall(kind):
                print(f"[{tier}] {word} {node_id(case.get('classname', ''), case.get('name', ''))}")
                lines = (problem.get("message") or problem.text or "").strip().splitlines()
                for line in lines[:8]:
                    print(f"    {line[:300]}")
                if len(lines) > 8:
                    print(f"    ... ({len(lines) - 8} more lines in reports/tiers/{tier}.log)")
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"tests: {passed} passed, {failed} failed, {totals['skipped']} skipped")
sys.exit(1 if totals["tests"] == 0 else 0)
EOF
exit $status
