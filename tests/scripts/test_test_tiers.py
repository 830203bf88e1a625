"""``scripts/test-tiers.sh`` (make test's pytest run): the Docker e2e tier, the kind tier and the units
side by side, each tier's exit counted, one closing line for all. Run against a stand-in pytest
that writes the JUnit report and exit status each test asks of it; the tiers' marker expressions are
run through real pytest to show that every test lands in exactly one tier."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

# The stand-in: `python -m pytest ... -m MARKER --junitxml=FILE` answers as FAKE_<tier> says
# ("tests failures rc"; the tiers are told apart by their marker expressions); any other call (the
# closing line's script on stdin) is the real Python.
STAND_IN = """#!/usr/bin/env bash
if [ "$1" != "-m" ]; then exec python3 "$@"; fi
marker="" junit=""
while [ $# -gt 0 ]; do
  case "$1" in
    -m) marker="$2"; shift ;;
    --junitxml=*) junit="${1#--junitxml=}" ;;
  esac
  shift
done
if [ -n "$FAKE_NICENESS" ]; then echo "$marker=$(nice)" >> "$FAKE_NICENESS"; fi
if [ -n "$FAKE_INTERRUPTED" ]; then
  # a tier that runs until Ctrl-C, then cleans up for a moment (as pytest's finalizers do)
  trap 'sleep 0.5; echo "$marker" >> "$FAKE_INTERRUPTED"; exit 130' INT
  for _ in $(seq 300); do sleep 0.1; done
  exit 0
fi
case "$marker" in
  "e2e and not kind") set -- $FAKE_DOCKER ;;
  kind) set -- $FAKE_KIND ;;
  *) set -- $FAKE_UNITS ;;
esac
counts="tests=\\"$1\\" failures=\\"$2\\" errors=\\"0\\" skipped=\\"0\\""
case_=""
if [ "$2" != 0 ]; then
  failure="<failure message=\\"AssertionError: boom&#10;the second line\\"/>"
  case_="<testcase classname=\\"tests.test_one\\" name=\\"test_one[x]\\">$failure</testcase>"
fi
echo "<testsuites><testsuite $counts>$case_</testsuite></testsuites>" > "$junit"
if [ "$marker" = "not e2e and not kind" ] && [ -n "$FAKE_CORPUS" ]; then printf '%s\n' "$FAKE_CORPUS"; fi
if [ "$2" != 0 ]; then echo "FAILED tests/test_${marker// /_}.py::test_one - AssertionError: boom"; fi
echo "$1 tests, $2 failed in 0.01s"
exit "$3"
"""


def install_tiers(tmp_path: Path) -> None:
    """scripts/test-tiers.sh in ``tmp_path`` with the stand-in as its venv's python."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "test-tiers.sh", tmp_path / "scripts" / "test-tiers.sh")
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(STAND_IN)
    python.chmod(0o755)


def run_tiers(
    tmp_path: Path,
    docker: str,
    kind: str,
    *options: str,
    units: str = "5 0 0",
    corpus: str = "",
    niceness: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    install_tiers(tmp_path)
    environment = {
        **os.environ,
        "FAKE_DOCKER": docker,
        "FAKE_KIND": kind,
        "FAKE_UNITS": units,
        "FAKE_CORPUS": corpus,
        "FAKE_NICENESS": str(niceness or ""),
    }
    return subprocess.run(
        ["bash", str(tmp_path / "scripts" / "test-tiers.sh"), *options],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_tier_passing_passes_with_one_closing_line_for_all(tmp_path: Path) -> None:
    result = run_tiers(tmp_path, "7 0 0", "3 0 0")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "tests: 15 passed, 0 failed, 0 skipped"
    assert "[units] 5 tests, 0 failed in 0.01s" in lines
    assert "[kind] 3 tests, 0 failed in 0.01s" in lines
    assert "[docker] 7 tests, 0 failed in 0.01s" in lines
    assert (tmp_path / "reports" / "tiers" / "kind.log").read_text() == "3 tests, 0 failed in 0.01s\n"


def test_the_units_run_at_a_lower_priority_than_the_tiers_that_wait_on_timings(tmp_path: Path) -> None:
    seen = tmp_path / "niceness"
    result = run_tiers(tmp_path, "7 0 0", "3 0 0", niceness=seen)
    assert result.returncode == 0, result.stdout + result.stderr
    base = os.nice(0)
    niceness = dict(line.split("=") for line in seen.read_text().splitlines())
    assert niceness == {
        "e2e and not kind": str(base),
        "kind": str(base),
        "not e2e and not kind": str(min(base + 10, 19)),
    }


def test_the_triage_corpus_figures_and_every_miss_are_repeated_at_the_end(tmp_path: Path) -> None:
    block = [
        "triage accuracy against the fault labels: 1/2 (50%) real recordings right (real-kind 1/2 (50%))",
        "  miss: kind/x: label diagnosed ['Fix 1'], verdict diagnosed ['Quick Fix']",
        "triage regression set: 2/2 (100%) recordings give their expected verdict",
    ]
    corpus = "\n".join(
        ["-------- triage scenario corpus --------", *block, "==== short test summary info ===="]
    )
    result = run_tiers(tmp_path, "7 0 0", "3 0 0", corpus=corpus)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-4:] == [*block, "tests: 15 passed, 0 failed, 0 skipped"]


@pytest.mark.parametrize(
    ("docker", "kind", "units"),
    [
        ("7 1 1", "3 0 0", "5 0 0"),
        ("7 0 0", "3 1 1", "5 0 0"),
        ("7 0 0", "3 0 0", "5 1 1"),
        ("7 0 0", "0 0 5", "5 0 0"),
    ],
)
def test_a_failing_tier_or_a_tier_that_ran_nothing_fails_the_run(
    tmp_path: Path, docker: str, kind: str, units: str
) -> None:
    result = run_tiers(tmp_path, docker, kind, units=units)
    assert result.returncode == 1, result.stdout


def test_every_failed_test_is_named_again_at_the_end_with_its_tier_and_message(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_one.py").write_text("")
    result = run_tiers(tmp_path, "7 1 1", "3 0 0")
    tail = result.stdout.splitlines()[-4:]
    assert tail[:3] == [
        "[docker] FAILED tests/test_one.py::test_one[x]",
        "    AssertionError: boom",
        "    the second line",
    ], result.stdout
    assert not any(line.startswith("[kind] FAILED") for line in result.stdout.splitlines())


def test_a_tier_that_options_leave_without_a_test_is_not_a_failure(tmp_path: Path) -> None:
    assert run_tiers(tmp_path, "7 0 0", "0 0 5", "-k", "gate").returncode == 0


def test_no_test_at_all_fails_even_with_options(tmp_path: Path) -> None:
    result = run_tiers(tmp_path, "0 0 5", "0 0 5", "-k", "nothing", units="0 0 5")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "tests: 0 passed, 0 failed, 0 skipped"


def test_serial_runs_the_docker_tier_first_then_kind_then_the_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFGRIDFLOW_TIERS", "serial")
    out = run_tiers(tmp_path, "7 0 0", "3 0 0").stdout
    assert out.index("[docker]") < out.index("[kind]") < out.index("[units]")
    assert "(serial)" in out


def tier_settings(suffix: str) -> dict[str, str]:
    """What the script gives each tier in its ``<TIER>_<suffix>`` variables (``TIER``: the marker
    expression, ``PATHS``: the directories collected), as bash evaluates them."""
    script = (ROOT / "scripts" / "test-tiers.sh").read_text()
    assignments = "\n".join(
        line for line in script.splitlines() if line.startswith(("DOCKER_", "KIND_", "UNITS_"))
    )
    echoes = "".join(f'\necho "${tier}_{suffix}"' for tier in ("DOCKER", "KIND", "UNITS"))
    shown = subprocess.run(
        ["bash", "-c", assignments + echoes],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout.splitlines()  # fmt: skip
    return {"docker": shown[0], "kind": shown[1], "units": shown[2]}


def tier_markers() -> dict[str, str]:
    return tier_settings("TIER")


def collected(paths: list[str], expression: str) -> set[str]:
    """The node ids real pytest collects from ``paths`` of this repository under ``-m expression``."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *paths, "-m", expression, "--collect-only", "-q",
         "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return {line for line in result.stdout.splitlines() if "::" in line}


def test_each_tiers_directories_hold_every_test_its_marker_selects_in_the_whole_suite() -> None:
    # a tier collects only its directories: an e2e or kind test written anywhere else would be in no
    # tier and never run, so the whole suite is collected here once and compared
    markers, paths = tier_markers(), tier_settings("PATHS")
    assert paths["units"] == "tests", "the units tier's expression is what is left: it collects everything"
    waiting = ["docker", "kind"]
    everywhere = collected(["tests"], " or ".join(f"({markers[tier]})" for tier in waiting))
    assert len(everywhere) > 50, "the e2e and kind tests were not collected at all"
    narrowed = {tier: collected(paths[tier].split(), markers[tier]) for tier in waiting}
    lost = sorted(everywhere - set().union(*narrowed.values()))
    assert not lost, f"{len(lost)} tests outside their tier's directories, in no tier: {lost[:10]}"
    assert not narrowed["docker"] & narrowed["kind"]


def test_every_test_lands_in_exactly_one_tier(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    e2e: e2e\n    kind: kind\n")
    pytester.makepyfile(
        """
        import pytest

        def test_unit(): pass

        @pytest.mark.e2e
        def test_docker_e2e(): pass

        @pytest.mark.kind
        def test_kind(): pass

        @pytest.mark.kind
        @pytest.mark.e2e
        def test_kind_e2e(): pass
        """
    )
    chosen = {}
    for tier, expression in tier_markers().items():
        # -p no:pytest-kind as the project's own ini has it (its --kubeconfig clashes with the suite's)
        result = pytester.runpytest_subprocess(
            "-p", "no:pytest-kind", "-m", expression, "--collect-only", "-q"
        )
        chosen[tier] = {line.split("::")[1] for line in result.outlines if "::" in line}
    assert chosen == {
        "docker": {"test_docker_e2e"},
        "kind": {"test_kind", "test_kind_e2e"},
        "units": {"test_unit"},
    }


def test_ctrl_c_interrupts_every_running_tier_and_the_run_ends_after_their_clean_up(tmp_path: Path) -> None:
    install_tiers(tmp_path)
    interrupted = tmp_path / "interrupted"
    environment = {**os.environ, "FAKE_INTERRUPTED": str(interrupted), "FAKE_UNITS": "5 0 0"}
    run = subprocess.Popen(
        ["bash", str(tmp_path / "scripts" / "test-tiers.sh")],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(2)  # the three tiers are running
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=20)
    finally:
        run.kill()
    # each tier got the Ctrl-C and finished its clean-up before the run ended (and said so)
    assert sorted(interrupted.read_text().split("\n")[:-1]) == sorted(
        ["e2e and not kind", "kind", "not e2e and not kind"]
    ), output
    assert run.returncode != 0, output
