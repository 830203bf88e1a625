"""What the gate decided and why: the failures (named by runbook step), the rollback, the exit code,
and ``gate.json``, the verdict a pipeline reads."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from offgridflow_runbook.files import replace_user_text
from offgridflow_runbook.reporting import Redactor

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_PASSED",
    "EXIT_REJECTED",
    "EXIT_ROLLBACK_FAILED",
    "Failure",
    "GateReport",
    "Rollback",
]

EXIT_PASSED = 0  # the candidate passed and stays
EXIT_REJECTED = 1  # the candidate failed and was rolled back (the rollback passed Verification 1-5), or
# nothing had changed yet
EXIT_ROLLBACK_FAILED = 3  # the candidate failed and the rollback did not bring the target back
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM: rolled back (when anything had changed), then stopped


@dataclass(frozen=True)
class Failure:
    """One reason the candidate was rejected.

    ``by``: what saw it (``rollout``, ``checks``, ``drift``, ``gate``); ``step``: the runbook step
    (``Verification 3``) or, for the rollout itself, ``rollout``; ``where``: the check's node id or
    the runbook line."""

    by: str
    step: str
    message: str
    where: str = ""


@dataclass
class Rollback:
    """What rolling back did: the action, whether the target came back, and Verification 1-5 after it."""

    action: str  # "rollout undo", or "none" with the reason in message
    passed: bool
    message: str
    image_after: str | None = None
    verification: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class GateReport:
    """The whole gate run, written as ``gate.json``."""

    target: str
    platform: str
    candidate: str
    started_at: str
    before: dict[str, Any] = field(default_factory=dict)
    changed: bool = False
    rollout: dict[str, Any] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # not the candidate's fault (drift already there)
    rollback: Rollback | None = None
    interrupted: bool = False
    timings_s: dict[str, float] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)

    @property
    def failed_steps(self) -> list[str]:
        """Each runbook step (or ``rollout``) that failed, once, in the order first seen."""
        return list(dict.fromkeys(failure.step for failure in self.failures))

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        if not self.failures:
            return EXIT_PASSED
        return EXIT_REJECTED if self.rollback is None or self.rollback.passed else EXIT_ROLLBACK_FAILED

    @property
    def verdict(self) -> str:
        code = self.exit_code
        if code == EXIT_REJECTED and (self.rollback is None or self.rollback.action == "none"):
            return "rejected, nothing to roll back"  # it failed before a change, or the change was none
        return {
            EXIT_PASSED: "passed",
            EXIT_REJECTED: "rejected, rolled back",
            EXIT_ROLLBACK_FAILED: "rejected, rollback failed",
            EXIT_INTERRUPTED: "interrupted",
        }[code]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "failed_steps": self.failed_steps,
            **data,
        }

    def write(self, path: Path, redact: Redactor) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        # whole or not at all: the CI job that ran the gate reads the verdict from it
        replace_user_text(path, json.dumps(redact.value(self.as_dict()), indent=2) + "\n")
        return path

    def summary(self) -> str:
        """A few lines for the log: the verdict, what failed, what the rollback did."""
        lines = [f"gate: {self.verdict}: {self.candidate} on target {self.target!r} (exit {self.exit_code})"]
        lines += [f"  failed: {f.step} ({f.by}): {f.message}" for f in self.failures]
        if self.rollback is not None:
            state = "passed" if self.rollback.passed else "FAILED"
            lines.append(f"  rollback {state}: {self.rollback.action}: {self.rollback.message}")
        lines += [f"  finding: {finding}" for finding in self.findings]
        if "gate" in self.reports:
            lines.append(f"  verdict: {self.reports['gate']}; the checks' report: {self.reports['html']}")
        return "\n".join(lines)
