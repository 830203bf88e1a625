"""The gate's sequence: record what runs, set the candidate, wait for it (bounded), judge it with the
checks and drift, and on any failure roll back and verify the rollback with Verification 1-5.

Every wait is bounded and says what it waits for every few seconds. SIGINT (and SIGTERM, which the
command maps to it) during the gate rolls back whatever the gate changed before stopping; while the
rollback runs, further interrupts are ignored (it is bounded by its own timeout).
"""

from __future__ import annotations

import contextlib
import json
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TypeVar

from offgridflow_runbook.gate.judge import CheckReports, PytestChecks, drift_failures
from offgridflow_runbook.gate.verdict import Failure, GateReport, Rollback
from offgridflow_runbook.platforms import Platform, PlatformError, RolloutStatus, Workload
from offgridflow_runbook.platforms.identity import identity_mismatch
from offgridflow_runbook.reporting import Redactor
from offgridflow_runbook.runbook.document import Runbook
from offgridflow_runbook.runbook.drift import DriftReport, drift
from offgridflow_runbook.runbook.verification import VerificationReport, verify
from offgridflow_runbook.targets import Target, TargetError

__all__ = [
    "DRIFT_FILE",
    "GATE_FILE",
    "GateSettings",
    "PullWatch",
    "ReportsError",
    "prepare_reports",
    "run_gate",
]

GATE_FILE = "gate.json"
DRIFT_FILE = "drift.json"
# how long a set image may take to show in the rollout history (a ReplicaSet made by the controller)
_REVISION_APPEARS_S = 10.0
Say = Callable[[str], None]
T = TypeVar("T")


@dataclass(frozen=True)
class GateSettings:
    """The bounds of one gate run, in seconds.

    ``rollback_timeout`` covers the undo's rollout and Verification 1-5 after it: Verification 5's
    error rate is taken over 5 minutes, so a candidate that answered 5xx keeps it red for about that
    long after the rollback (hence 7 minutes by default)."""

    rollout_timeout: float = 300.0
    checks_timeout: float = 300.0
    rollback_timeout: float = 420.0
    drift_timeout: float = 15.0
    poll_s: float = 5.0  # how often a wait looks again and says what it waits for
    # a candidate whose new instances cannot pull its image for this long is rejected without
    # waiting out rollout_timeout (a tag the registry lacks never becomes ready)
    pull_grace_s: float = 30.0


# waiting reasons of an instance whose image cannot be pulled: the first two the kubelet retries (so
# the gate gives them pull_grace_s), the last two no retry can change
_PULL_RETRIED = frozenset({"ErrImagePull", "ImagePullBackOff"})
_PULL_FINAL = frozenset({"InvalidImageName", "ErrImageNeverPull"})


class ReportsError(Exception):
    """The reports directory cannot take the gate's reports; one line naming it and why."""


def prepare_reports(reports_dir: Path) -> None:
    """Make ``reports_dir`` and write a file there, before anything is changed: found out only when
    the verdict is written, after a candidate was set and rolled back, the gate would leave no record
    of what it did. ReportsError if it cannot."""
    checks = CheckReports.under(reports_dir)
    try:
        reports_dir.mkdir(parents=True, exist_ok=True)
        for written in (
            checks.junit,
            checks.html,
            checks.jsonl,
            reports_dir / GATE_FILE,
            reports_dir / DRIFT_FILE,
        ):
            if written.is_dir():
                raise ReportsError(f"reports directory {reports_dir}: {written.name} is a directory")
        with tempfile.TemporaryFile(dir=reports_dir):
            pass
    except FileExistsError:
        raise ReportsError(f"reports directory {reports_dir}: not a directory") from None
    except OSError as error:
        raise ReportsError(
            f"reports directory {reports_dir}: cannot write: {error.strerror or error}"
        ) from None


def _check_identity(target: Target, platform: Platform) -> None:
    """Before anything is read or changed: a target that declares an identity must be what answers
    (first from the client's own configuration, without contacting anything, then asked of the system),
    else TargetError with one line (expected, found). A target without one (a staging cluster the team
    has not described) is gated as named: the gate, unlike chaos, does not demand an identity."""
    if target.identity is None:
        return
    for contact in (False, True):
        if problem := identity_mismatch(target, platform.identity(contact=contact)):
            raise TargetError(problem)


def _template_image(platform: Platform) -> str | None:
    """The image of the latest revision (what the Deployment's template / the stored rollout asks for)."""
    history = platform.rollout_history()
    return history[-1].image if history else None


class _Clock:
    def __init__(self, timeout: float) -> None:
        self.started = time.monotonic()
        self.timeout = timeout

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def remaining(self) -> float:
        return max(0.0, self.timeout - self.elapsed)

    def progress(self) -> str:
        return f"{self.elapsed:.0f} s of {self.timeout:.0f} s"


class PullWatch:
    """Whether the candidate's instances have been unable to pull its image for ``grace`` seconds
    on end (looked at between the rollout wait's slices)."""

    def __init__(self, image: str, grace: float) -> None:
        self.image = image
        self.grace = grace
        self.since: float | None = None

    def verdict(self, instances: list[Workload]) -> str | None:
        """None while the image may still come; else why the rollout will not complete. Read from
        the API's instances as ``api_workloads()`` gives them, one look after the other."""
        failing = [
            w for w in instances if w.image == self.image and w.waiting_reason in _PULL_RETRIED | _PULL_FINAL
        ]
        if not failing:
            self.since = None  # a pull that succeeded (or instances not made yet) starts the grace again
            return None
        now = time.monotonic()
        self.since = now if self.since is None else self.since
        final = next((w for w in failing if w.waiting_reason in _PULL_FINAL), None)
        shown = final or failing[0]
        if final is None and now - self.since < self.grace:
            return None
        detail = f": {shown.waiting_message}" if shown.waiting_message else ""
        return (
            f"the candidate's image cannot be pulled ({shown.waiting_reason} on {shown.name} for "
            f"{now - self.since:.0f} s{detail})"
        )


def _wait_rollout(
    platform: Platform,
    clock: _Clock,
    settings: GateSettings,
    say: Say,
    what: str,
    pulls: PullWatch | None = None,
) -> tuple[RolloutStatus, str | None]:
    """The platform's own rollout wait in slices of ``poll_s``, with a progress line between them.
    A wait that returns incomplete well before its slice ended means the platform gave up (a
    Deployment past its progress deadline): no use waiting longer. With ``pulls``, an image that
    cannot be pulled ends the wait too; the second value then says why."""
    while True:
        piece = min(settings.poll_s, clock.remaining)
        asked = time.monotonic()
        status = platform.wait_rollout(timeout=piece)
        if status.complete or clock.remaining <= 0 or time.monotonic() - asked < piece - 1.0:
            return status, None
        if pulls is not None and (unpullable := pulls.verdict(platform.api_workloads())) is not None:
            return status, unpullable
        say(f"{what}: waiting for the rollout ({clock.progress()}): {status.message}")


def _wait_settled(platform: Platform, image: str, clock: _Clock, settings: GateSettings, say: Say) -> None:
    """Until every API instance runs ``image`` (old pods still terminating would fail Verification 1
    for a reason that is not the candidate's), or the clock runs out; the checks judge either way."""
    while clock.remaining > 0:
        images = sorted({w.image for w in platform.api_workloads()})
        if images == [image]:
            return
        say(f"rollout: waiting for the old instances to go ({clock.progress()}): running {', '.join(images)}")
        time.sleep(min(settings.poll_s, clock.remaining))


def _verify_until_passed(
    target: Target, platform: Platform, clock: _Clock, settings: GateSettings, say: Say
) -> VerificationReport:
    while True:
        report = verify(target, platform)
        if report.passed or clock.remaining <= 0:
            return report
        first = report.failures[0]
        say(f"rollback: waiting for Verification 1-5 ({clock.progress()}): {first.step}: {first.message}")
        time.sleep(min(settings.poll_s, clock.remaining))


@contextlib.contextmanager
def _interrupts_ignored(say: Say) -> Iterator[None]:
    """The rollback is not itself interrupted (it is bounded); a second Ctrl-C only says so."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ignore(signum: int, frame: FrameType | None) -> None:
        say("interrupt ignored: the rollback is running (bounded by --rollback-timeout)")

    previous = {sig: signal.signal(sig, ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _roll_back(
    target: Target, platform: Platform, before_image: str | None, settings: GateSettings, say: Say
) -> Rollback:
    """``rollout undo`` (Kubernetes: the previous ReplicaSet's template; Docker: the previous stored
    revision, as a new revision), then its rollout and Verification 1-5, all within one bound."""
    clock = _Clock(settings.rollback_timeout)
    say(f"rollback: rollout undo (back to {before_image})")
    try:
        platform.rollout_undo()
    except PlatformError as error:
        return Rollback("rollout undo", False, f"rollout undo failed: {error}", seconds=clock.elapsed)
    status, _ = _wait_rollout(platform, clock, settings, say, "rollback")
    report = _verify_until_passed(target, platform, clock, settings, say)
    image_after = _template_image(platform)
    steps = [{"step": s.step, "outcome": str(s.outcome), "message": s.message} for s in report.steps]
    problems = []
    if not status.complete:
        problems.append(
            f"the rollout did not complete within {settings.rollback_timeout:.0f} s: {status.message}"
        )
    if image_after != before_image:
        problems.append(f"the template runs {image_after}, not {before_image} as before the gate")
    problems += [f"{s.step} failed: {s.message}" for s in report.failures]
    message = "; ".join(problems) or f"back on {image_after}; Verification 1-5 passed"
    return Rollback("rollout undo", not problems, message, image_after, steps, round(clock.elapsed, 3))


def _timed(report: GateReport, name: str, work: Callable[[], T]) -> T:
    started = time.monotonic()
    try:
        return work()
    finally:
        report.timings_s[name] = round(time.monotonic() - started, 3)


def _record_before(target: Target, platform: Platform, report: GateReport, say: Say) -> str | None:
    """The revision and image the target runs before the gate (what a rollback must bring back), and
    whether it passed Verification 1-5 already (a failure that was there is not the candidate's)."""
    history = platform.rollout_history()
    baseline = verify(target, platform)
    report.before = {
        "revision": history[-1].number if history else None,
        "image": history[-1].image if history else None,
        "running_images": sorted({w.image for w in baseline.observations.api_workloads.value or []}),
        "rollout": platform.rollout_status().message,
        "verification_passed": baseline.passed,
        "verification_failed_steps": sorted({s.step for s in baseline.failures}),
    }
    if not baseline.passed:
        say(f"before: the target already fails {', '.join(report.before['verification_failed_steps'])}")
    return history[-1].image if history else None


def _roll_out(
    platform: Platform, candidate: str, report: GateReport, settings: GateSettings, say: Say
) -> None:
    """Wait for the candidate's rollout (bounded), then for the old instances to go."""
    clock = _Clock(settings.rollout_timeout)
    pulls = PullWatch(candidate, settings.pull_grace_s)
    status, unpullable = _wait_rollout(platform, clock, settings, say, "rollout", pulls)
    if status.complete:
        _wait_settled(platform, candidate, clock, settings, say)
    report.rollout = {"complete": status.complete, "message": status.message}
    report.timings_s["rollout"] = round(clock.elapsed, 3)
    if unpullable is not None:
        report.rollout["unpullable"] = unpullable
        say(f"rollout: {unpullable}: rejected without waiting out the {settings.rollout_timeout:.0f} s bound")
        report.failures.append(Failure("rollout", "rollout", f"not complete: {unpullable}"))
    elif not status.complete:
        waited = f"not complete within {settings.rollout_timeout:.0f} s: {status.message}"
        report.failures.append(Failure("rollout", "rollout", waited))


def run_gate(
    target: Target,
    candidate: str,
    *,
    platform: Platform,
    checks: PytestChecks,
    runbook: Runbook,
    reports_dir: Path,
    settings: GateSettings = GateSettings(),
    say: Say = print,
) -> GateReport:
    """Gate ``candidate`` on ``target`` (which must allow writes: the caller checks before calling).

    Writes ``gate.json`` (and the checks' JUnit/HTML/JSON lines, ``drift.json``) to ``reports_dir``
    and returns the report; its ``exit_code`` is the command's."""
    started = time.monotonic()
    report = GateReport(
        target.name, platform.kind, candidate, datetime.now(UTC).isoformat(timespec="seconds")
    )
    reports = CheckReports.under(reports_dir)
    report.reports = {"gate": str(reports_dir / GATE_FILE), "junit": str(reports.junit),
                      "html": str(reports.html), "results": str(reports.jsonl),
                      "drift": str(reports_dir / DRIFT_FILE)}  # fmt: skip
    prepare_reports(reports_dir)
    redact = Redactor([target.token])
    applied = False
    before_image: str | None = None
    _check_identity(target, platform)  # before anything is read or changed; it refuses by raising
    try:
        before_image = _record_before(target, platform, report, say)
        drift_before = _timed(
            report, "drift_before", lambda: drift(runbook, target, timeout=settings.drift_timeout)
        )
        report.changed = candidate != before_image
        say(f"set image {candidate} (revision before: {report.before['revision']}, {before_image})")
        applied = True
        platform.set_image(candidate)
        _roll_out(platform, candidate, report, settings, say)
        say("checks: pytest checks against the candidate")
        report.failures += _timed(report, "checks", lambda: checks.run(reports))
        drift_after = _timed(report, "drift", lambda: drift(runbook, target, timeout=settings.drift_timeout))
        _write_drift(reports_dir / DRIFT_FILE, drift_before, drift_after, redact)
        failures, report.findings = drift_failures(drift_before, drift_after)
        report.failures += failures
    except PlatformError as error:
        report.failures.append(Failure("gate", "rollout" if applied else "before", str(error)))
    except Exception as error:  # whatever went wrong, a candidate the gate set must not stay unjudged
        report.failures.append(Failure("gate", "gate", f"{type(error).__name__}: {error}"))
    except KeyboardInterrupt:
        report.interrupted = True
        say("interrupted: rolling back what the gate changed")
    if report.failures or report.interrupted:
        with _interrupts_ignored(say):
            report.rollback = _rollback_if_changed(
                target, platform, applied, before_image, candidate, settings, say
            )
    report.timings_s["total"] = round(time.monotonic() - started, 3)
    try:
        report.write(reports_dir / GATE_FILE, redact)
    except OSError as error:  # taken away during the run: the verdict is still the caller's to show
        say(f"cannot write {reports_dir / GATE_FILE}: {error.strerror or error}")
    return report


def _rollback_if_changed(
    target: Target,
    platform: Platform,
    applied: bool,
    before_image: str | None,
    candidate: str,
    settings: GateSettings,
    say: Say,
) -> Rollback | None:
    if not applied:
        return None
    try:
        now = _template_image(platform)
        clock = _Clock(_REVISION_APPEARS_S)
        # Kubernetes: the controller makes the candidate's ReplicaSet a moment after the patch
        while now != candidate and before_image != candidate and clock.remaining > 0:
            time.sleep(min(1.0, clock.remaining))
            now = _template_image(platform)
    except PlatformError as error:
        return Rollback("none", False, f"cannot read the rollout history to roll back: {error}")
    if before_image == candidate or now != candidate:
        # set image changed nothing (the candidate already ran, or it never reached the template)
        return Rollback("none", True, f"nothing to roll back: the template still runs {now}", now)
    return _roll_back(target, platform, before_image, settings, say)


def _write_drift(path: Path, before: DriftReport, after: DriftReport, redact: Redactor) -> None:
    document = {"before": before.as_dict(), "after": after.as_dict()}
    path.write_text(json.dumps(redact.value(document), indent=2) + "\n", encoding="utf-8")
