"""Undo what the fault ledger says is still open on a target, then prove Verification 1-5 pass.

``offgridflow-runbook restore --target T`` calls :func:`restore`. For each open entry of the target,
newest first, it carries out the entry's undo steps in order through the target's platform (each
step first looks whether it is still needed, so a restore run twice changes nothing the second
time), waits for the API's rollout, then waits (bounded) for Verification 1-5. An entry is cleared
only when its own undo worked and Verification passed; anything else leaves it open, with the reason.

Which entries it may act on: only those written for this very profile (same platform, URL,
namespace, kube context, kubeconfig and identity), and only when what answers is the system that
identity declares (``platforms.identity``, as the chaos guard checks it). An entry written for
another profile is refused: its values belong to another system. A profile that no longer allows
chaos is restored all the same when the entries were written for it - the undo puts back only
values the suite itself recorded there before its own change, and refusing would leave the suite's
fault in place - and the report says so. :func:`pending` lists entries without changing anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from offgridflow_runbook.ledger import Entry, Ledger, Undo, UndoAction, Unreadable, profile_of
from offgridflow_runbook.platforms import Platform, PlatformError, label_selector, platform_for
from offgridflow_runbook.platforms.identity import identity_mismatch
from offgridflow_runbook.probes.http import ApiProbe, ProbeError
from offgridflow_runbook.runbook.verification import VerificationReport, verify
from offgridflow_runbook.targets import Target

__all__ = [
    "VERIFY_DEADLINE_S",
    "EntryOutcome",
    "RestoreReport",
    "pending",
    "restore",
    "verify_within",
]

VERIFY_DEADLINE_S = 600.0  # alerts of the fast profile resolve within minutes; production's take longer
_POLL_S = 2.0
Verifier = Callable[[Target, Platform | None], VerificationReport]


class _CannotUndo(Exception):
    """A step that the suite cannot carry out (the reason is for the user)."""


@dataclass
class EntryOutcome:
    """What restore did with one entry."""

    entry: Entry
    done: list[str] = field(default_factory=list)
    problem: str | None = None
    cleared: bool = False

    def line(self) -> str:
        state = "restored" if self.cleared else f"NOT restored: {self.problem or 'left open'}"
        did = f" ({'; '.join(self.done)})" if self.done else ""
        return f"{self.entry.summary()}: {state}{did}"


@dataclass
class RestoreReport:
    """The outcome of one restore: per entry, the files that are not entries, and Verification."""

    target: str
    ledger: Path
    outcomes: list[EntryOutcome] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    verification: VerificationReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 restored (or nothing open), 1 something could not be restored."""
        failed = self.unreadable or any(not outcome.cleared for outcome in self.outcomes)
        return 1 if failed else 0

    def lines(self) -> list[str]:
        """One line per entry (and per unreadable file), then the verdict."""
        out = list(self.notes)
        out += [outcome.line() for outcome in self.outcomes]
        out += [
            f"{bad.path}: unreadable ledger file, NOT restored: {bad.reason} (look at it, then remove it)"
            for bad in self.unreadable
        ]
        if not self.outcomes and not self.unreadable:
            where = f"the fault ledger ({self.ledger})"
            out.append(f"target {self.target!r}: nothing open in {where}; nothing to restore")
        elif self.exit_code == 0:
            out.append(f"target {self.target!r}: restored; Verification 1-5 pass")
        elif self.verification is not None and not self.verification.passed:
            failing = "; ".join(f"{s.step}: {s.message}" for s in self.verification.failures)
            out.append(f"target {self.target!r}: Verification 1-5 did not pass: {failing}")
        else:
            left = sum(not outcome.cleared for outcome in self.outcomes) + len(self.unreadable)
            out.append(f"target {self.target!r}: {left} ledger entries NOT restored (above)")
        return out


def pending(target: Target, ledger: Ledger | None = None) -> tuple[list[Entry], list[Unreadable]]:
    """The open entries of ``target`` and the unreadable files (changes nothing)."""
    return (ledger or Ledger()).read(target.name)


def _image_now(platform: Platform) -> str | None:
    history = platform.rollout_history()
    if history:
        return history[-1].image
    workloads = platform.api_workloads()
    return workloads[0].image if workloads else None


def _undo(step: Undo, platform: Platform, rollout_timeout: float) -> str:
    """Carry out one step when still needed; what was done, in a few words."""
    detail = step.detail
    if step.action is UndoAction.SET_IMAGE:
        image = str(detail.get("image") or "")
        if not image:
            raise _CannotUndo("the entry names no image")
        if _image_now(platform) == image:
            return f"image already {image}"
        platform.set_image(image)
        return f"image set back to {image}"
    if step.action is UndoAction.PATCH_MEMORY:
        limit, request = str(detail.get("limit") or ""), str(detail.get("request") or "")
        latest = platform.rollout_history()[-1:]
        if latest and (latest[0].memory_limit, latest[0].memory_request) == (limit, request):
            return f"memory already {limit}/{request}"
        platform.patch_memory(limit=limit, request=request)
        return f"memory set back to {limit}/{request}"
    if step.action is UndoAction.UPDATE_CONFIG:
        key = str(detail.get("key") or "")
        if detail.get("secret"):
            raise _CannotUndo(
                f"{key} comes from a Secret and its value was not recorded: re-apply offgridflow-secrets "
                "from version control, then restart the API"
            )
        previous = detail.get("previous")
        if not detail.get("had_value") or previous is None:
            raise _CannotUndo(f"the suite does not delete keys: remove {key} from offgridflow-config by hand")
        if platform.config().get(key) == str(previous):
            return f"{key} already {previous}"
        platform.update_config({key: str(previous)})
        return f"{key}={previous} back"
    if step.action is UndoAction.START_DATABASE:
        if platform.pg_isready().exit_code == 0:
            return "database already ready"
        platform.restart_database()
        platform.wait_database_ready(rollout_timeout)
        return "database started"
    if step.action is UndoAction.RESTART_API:
        workloads = platform.api_workloads()
        # Verification 1 wants every instance ready with 0 restarts: an instance the fault killed
        # (an OOM kill restarts in place) is replaced, not waited for
        if workloads and all(w.ready and w.restart_count == 0 for w in workloads):
            return "API already running"
        platform.rollout_restart()
        return "API restarted"
    if step.action is UndoAction.USE_HASHED_CONFIG:
        adopt = getattr(platform, "adopt_hashed_config", None)
        if adopt is None:
            raise _CannotUndo(f"the {platform.kind} platform has no ConfigMap scheme to put back")
        adopt()
        return "hashed offgridflow-config again"
    if step.action is UndoAction.SELECT:
        recorded = detail.get("selector")
        if not isinstance(recorded, dict) or not recorded:
            raise _CannotUndo("the entry names no selector to put back")
        selector = {str(key): str(value) for key, value in recorded.items()}
        if platform.api_service_selector() == selector:
            return f"Service selector already {label_selector(selector)}"
        platform.set_api_service_selector(selector)
        return f"Service selector back to {label_selector(selector)}"
    if step.action is UndoAction.CHECK_WRITES:
        return "writes checked after Verification"
    # scale: recorded for the capacity mode; no platform method changes it yet
    raise _CannotUndo(f"the suite cannot yet {step.describe()}: do it by hand")


def _not_the_system(target: Target, platform: Platform) -> str | None:
    """Why what answers is not the system the target declares (the chaos guard's identity check:
    first where the client would connect, then the system itself), or None."""
    try:
        for contact in (False, True):
            if problem := identity_mismatch(target, platform.identity(contact=contact)):
                return problem
    except PlatformError as error:
        return f"target {target.name!r}: refusing: cannot read what answers: {error}"
    return None


def _lost_writes(target: Target, entry: Entry) -> str | None:
    """None when every write acknowledged beside ``entry`` can be read back, else the problem."""
    acked = Ledger.acked_ids(entry)
    if not acked:
        return None
    if target.token is None:
        return f"cannot read back {len(acked)} acknowledged writes: ${target.token_env} is not set"
    lost: list[int] = []
    with ApiProbe(target, timeout=5.0) as api:
        for activity_id in acked:
            try:
                answer = api.get(
                    f"{target.base_url.rstrip('/')}/v1/activities/{activity_id}", authorized=True
                )
            except ProbeError as error:
                return f"cannot read back acknowledged write {activity_id}: {error}"
            if answer.status != 200:
                lost.append(activity_id)
    return f"{len(lost)} of {len(acked)} acknowledged writes lost: {lost[:20]}" if lost else None


def verify_within(
    target: Target, platform: Platform | None, deadline: float, verifier: Verifier | None = None
) -> VerificationReport:
    """Verification 1-5, polled until it passes or ``deadline`` seconds pass; the last report (with
    no ``platform``, each look opens the target's own)."""
    end = time.monotonic() + deadline
    while True:
        report = (verifier or verify)(target, platform)
        if report.passed or time.monotonic() >= end:
            return report
        time.sleep(min(_POLL_S, max(0.0, end - time.monotonic())))


def restore(
    target: Target,
    *,
    ledger: Ledger | None = None,
    platform: Platform | None = None,
    verify_deadline: float = VERIFY_DEADLINE_S,
    rollout_timeout: float = 180.0,
    verifier: Verifier | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> RestoreReport:
    """Undo every open entry of ``target`` (newest first), wait for the rollout and Verification 1-5,
    and clear each entry whose undo worked once Verification passed. ``verifier`` stands in for
    :func:`~offgridflow_runbook.runbook.verification.verify` (tests)."""
    ledger = ledger or Ledger()
    entries, unreadable = ledger.read(target.name)
    report = RestoreReport(target.name, ledger.directory, unreadable=unreadable)
    if not entries:
        return report
    outcomes = [EntryOutcome(entry) for entry in reversed(entries)]
    report.outcomes = outcomes
    mine = [o for o in outcomes if o.entry.written_for(target)]
    for outcome in outcomes:
        if outcome not in mine:
            outcome.problem = (
                f"written for another profile of {target.name!r} ({_difference(outcome.entry, target)}); "
                "restore with the profile it was written for"
            )
    if not mine:
        return report
    if not target.allow_chaos:
        report.notes.append(
            f"target {target.name!r} does not allow chaos; restoring only what the ledger recorded "
            "there before the suite's own faults"
        )
    own_platform = platform is None
    try:
        active = platform or platform_for(target)
    except (PlatformError, ImportError) as error:
        for outcome in mine:
            outcome.problem = f"no platform access: {error}"
        return report
    try:
        if refused := _not_the_system(target, active):
            for outcome in mine:
                outcome.problem = refused
            return report
        for outcome in mine:
            say(f"restore: {outcome.entry.summary()}")
            for step in outcome.entry.undo:
                try:
                    outcome.done.append(_undo(step, active, rollout_timeout))
                except (_CannotUndo, PlatformError, ProbeError) as error:
                    outcome.problem = f"{step.describe()}: {error}"
                    break
        try:
            rollout = active.wait_rollout(rollout_timeout)
        except PlatformError as error:
            rollout = None
            report.notes.append(f"rollout not seen complete: {error}")
        if rollout is not None and not rollout.complete:
            report.notes.append(f"rollout not complete within {rollout_timeout:g} s: {rollout.message}")
        say(f"restore: waiting up to {verify_deadline:g} s for Verification 1-5")
        report.verification = verify_within(target, active, verify_deadline, verifier)
    finally:
        if own_platform:
            active.close()
    if not report.verification.passed:
        for outcome in mine:
            outcome.problem = outcome.problem or "Verification 1-5 did not pass"
        return report
    for outcome in mine:
        if outcome.problem is None and any(s.action is UndoAction.CHECK_WRITES for s in outcome.entry.undo):
            outcome.problem = _lost_writes(target, outcome.entry)
            if outcome.problem is None:
                outcome.done.append(f"{len(Ledger.acked_ids(outcome.entry))} acknowledged writes all there")
        if outcome.problem is None:
            ledger.clear(outcome.entry, by="offgridflow-runbook restore", note="; ".join(outcome.done))
            outcome.cleared = True
    return report


def _difference(entry: Entry, target: Target) -> str:
    now = profile_of(target)
    changed = [
        f"{key} {entry.profile.get(key)!r}, now {now[key]!r}"
        for key in now
        if entry.profile.get(key) != now[key]
    ]
    return "; ".join(changed) or "the profile differs"
