"""Where a check run's time goes: `pytest checks --target T` run N times with a plugin that marks each
phase (benchmarks/timeline_plugin.py); prints, per phase, the median moment it was reached after the
process was started and the median time from the phase before to it.

    source .state/env
    flock -w 900 /tmp/offgridflow-stack.lock .venv/bin/python benchmarks/check_run_timeline.py --target local

The phases: the plugins loaded (the interpreter, pytest and its plugins), collection, each fixture
(the target, the probes, the platform, the look: ``runbook_observations``), each check, the checks
done, the reports written and the exit. benchmarks/bench_checks.py gives the ratio to the runbook by
hand; this says which phase to shorten next (issue 24).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from timeline_plugin import TIMELINE_ENV

ROOT = Path(__file__).resolve().parents[1]
MAX_RUNS = 100


def one_run(target: str, timeline: Path) -> list[tuple[str, float]]:
    """One check run: each phase and when it was reached, in seconds after the process was started."""
    timeline.unlink(missing_ok=True)
    env = {**os.environ, TIMELINE_ENV: str(timeline)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "benchmarks"), env.get("PYTHONPATH")]))
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "checks", "-q", "--target", target, "-p", "timeline_plugin"]
    started = time.time()
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0 or not timeline.exists():
        raise SystemExit(
            f"check_run_timeline: the check run failed:\n{result.stdout[-2000:]}{result.stderr[-1000:]}"
        )
    marks = [json.loads(line) for line in timeline.read_text(encoding="utf-8").splitlines()]
    return [(str(mark["what"]), float(mark["at"]) - started) for mark in marks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="local", help="the target profile (default: local)")
    parser.add_argument("--runs", type=int, default=10, help=f"check runs, 1-{MAX_RUNS} (default: 10)")
    options = parser.parse_args(argv)
    if not 1 <= options.runs <= MAX_RUNS:
        parser.error(f"--runs must be 1-{MAX_RUNS}")
    reached: dict[str, list[float]] = defaultdict(list)
    order: list[str] = []
    with tempfile.TemporaryDirectory() as workdir:
        for run in range(1, options.runs + 1):
            marks = one_run(options.target, Path(workdir) / "timeline.jsonl")
            for what, at in marks:
                if what not in reached:
                    order.append(what)
                reached[what].append(at)
            print(f"check_run_timeline: run {run}/{options.runs}: {marks[-1][1]:.3f} s", file=sys.stderr)
    # "since": from the phase before to this one (a check's line: the time of the fixture or check before)
    print(f"{'phase':<58} {'reached':>8} {'since':>7}")
    before = 0.0
    for what in order:
        at = statistics.median(reached[what])
        print(f"{what:<58} {at:8.3f} {at - before:7.3f}")
        before = at
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
