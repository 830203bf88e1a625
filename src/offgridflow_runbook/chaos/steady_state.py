"""The steady state: may this target be broken, and does it pass the runbook's Verification?"""

from __future__ import annotations

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from offgridflow_runbook.chaos._context import (
    event_log,
    guard,
    last_fix_started,
    opened,
    progress,
    resolve_target,
    wait_until,
)
from offgridflow_runbook.gameday.events import EventKind
from offgridflow_runbook.runbook.verification import verify

__all__ = [
    "chaos_allowed",
    "verification_passes",
]


def chaos_allowed(
    target: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> bool:
    """True when the target may be broken: its profile allows chaos (``allow_chaos: true``; production
    never does) and what answers is the system its identity declares (the guard every changing
    activity runs; the refusal is logged in one line). The identity seen goes into the event log."""
    try:
        guard(resolve_target(target, configuration), configuration, activity="chaos_allowed")
    except ActivityFailed:
        return False
    return True


def verification_passes(
    target: str | None = None,
    deadline: float = 0.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """The runbook's Verification 1-5 pass on the target, with no runbook alert firing.

    With ``deadline`` 0 this answers once (for a steady-state hypothesis). With a deadline it waits
    until Verification passes and fails the activity, naming the failing steps, when it does not."""
    chosen = resolve_target(target, configuration)
    log = event_log(configuration)
    with opened(chosen) as platform:
        if deadline <= 0:
            return verify(chosen, platform).passed
        progress(configuration, "verify", f"waiting up to {deadline:g} s for Verification 1-5 to pass")
        last: list[str] = []
        waited_on: set[str] = set()

        def passed() -> bool | None:
            report = verify(chosen, platform)
            if report.passed:
                return True
            last[:] = [f"{step.step}: {step.message}" for step in report.failures]
            waited_on.update(f"{step.step}: {step.title}" for step in report.failures)
            # the service is back once only Verification 5 (alerts, 5-minute error rate) lags behind
            if all(step.step == "Verification 5" for step in report.failures) and not log.first(
                EventKind.RECOVERED_AT, after=last_fix_started(log)
            ):
                log.record(EventKind.RECOVERED_AT, lagging=last[:])
            return None

        try:
            wait_until(passed, deadline=deadline, what="Verification 1-5 passing")
        except ActivityFailed as error:
            raise ActivityFailed(f"{error}; failing: {'; '.join(last)}") from None
        if not log.first(EventKind.RECOVERED_AT, after=last_fix_started(log)):
            log.record(EventKind.RECOVERED_AT, lagging=[])
        log.record(EventKind.VERIFIED_AT, steps=6, waited_on=sorted(waited_on))
        progress(configuration, "verified", "Verification 1-5 pass")
        return True
