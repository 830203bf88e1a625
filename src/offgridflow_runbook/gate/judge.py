"""The candidate judged exactly as the checks judge any target: ``pytest checks --target T`` in a
subprocess (its JUnit, HTML and JSON lines in the gate's reports), plus the runbook's read-only
commands (drift), compared with a run taken before the candidate so that drift already there is a
finding for the runbook's owners and only drift the candidate brought rejects it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from offgridflow_runbook.gate.verdict import Failure
from offgridflow_runbook.runbook.drift import DriftReport, Outcome

__all__ = ["CheckReports", "PytestChecks", "drift_failures"]

# pytest's own exit codes that are not "some checks failed" (1): a gate must not pass on them
_PYTEST_EXIT = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no checks collected"}


@dataclass(frozen=True)
class CheckReports:
    """Where one run of the checks writes: JUnit, self-contained HTML, one JSON line per check."""

    junit: Path
    html: Path
    jsonl: Path

    @classmethod
    def under(cls, directory: Path) -> CheckReports:
        return cls(directory / "junit.xml", directory / "report.html", directory / "results.jsonl")


@dataclass(frozen=True)
class PytestChecks:
    """``pytest CHECKS_DIR --target ... `` as a subprocess of this interpreter, bounded by ``timeout``.

    ``target_args`` are the target options as given to the gate (``--target``, ``--targets-file``,
    overrides), so the checks resolve the very same target."""

    checks_dir: Path
    target_args: Sequence[str]
    timeout: float

    def run(self, reports: CheckReports) -> list[Failure]:
        """The checks' failures (step, node id, message); a run that could not judge is one failure."""
        argv = [
            sys.executable, "-m", "pytest", str(self.checks_dir), *self.target_args, "-q",
            "-p", "no:cacheprovider",
            f"--junitxml={reports.junit}", f"--html={reports.html}", "--self-contained-html",
            f"--results-jsonl={reports.jsonl}",
        ]  # fmt: skip
        for earlier in (reports.junit, reports.html, reports.jsonl):
            earlier.unlink(missing_ok=True)  # what an earlier run left must not pass for this one's
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            return [Failure("checks", "checks", f"the checks did not finish within {self.timeout:.0f} s")]
        failures = _failures(reports.jsonl)
        if done.returncode in (0, 1) and (failures or done.returncode == 0):
            return failures
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
        why = _PYTEST_EXIT.get(done.returncode, f"exit {done.returncode}")
        return [*failures, Failure("checks", "checks", f"pytest checks could not judge ({why}): {tail[0]}")]


def _failures(jsonl: Path) -> list[Failure]:
    try:
        lines = jsonl.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    failures = []
    for line in lines:
        record = json.loads(line)
        if record.get("outcome") in ("failed", "error"):
            step = record.get("step") or "checks"
            failures.append(Failure("checks", step, str(record.get("message", "")), str(record["check"])))
    return failures


def drift_failures(before: DriftReport, after: DriftReport) -> tuple[list[Failure], list[str]]:
    """Drift the candidate brought (failures) and drift already there before it (findings)."""
    drifted_before = {r.command.line for r in before.results if r.outcome == Outcome.DRIFT}
    failures, findings = [], []
    for result in after.results:
        if result.outcome != Outcome.DRIFT:
            continue
        where = f"{after.runbook}:{result.command.line}"
        if result.command.line in drifted_before:
            findings.append(
                f"drift before the candidate too: {where} {result.command.text}: {result.message}"
            )
        else:
            failures.append(
                Failure("drift", result.command.step, f"{result.command.text}: {result.message}", where)
            )
    return failures, findings
