"""What every activity needs: the target, its platform, the event log, progress, and the guard.

Activities are called by Chaos Toolkit with plain arguments; this module turns ``target`` (a
profile name) into a :class:`Target` and a platform through ``platform_for`` - never Docker or
Kubernetes directly - and turns the suite's own errors into :class:`ActivityFailed` with a one-line
message.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from chaoslib.exceptions import ActivityFailed

from offgridflow_runbook.gameday.events import EventLog
from offgridflow_runbook.gameday.safety import ChaosNotAllowed, require_chaos_allowed
from offgridflow_runbook.platforms import Platform, PlatformError, platform_for
from offgridflow_runbook.probes.http import ProbeError
from offgridflow_runbook.probes.prometheus import RUNBOOK_ALERTS
from offgridflow_runbook.targets import DEFAULT_TARGETS_FILE, Target, TargetError, load_target
from offgridflow_runbook.verification import VerificationReport, verify

logger = logging.getLogger("chaostoolkit")
T = TypeVar("T")

# Polling period of every wait: well under the 2 s the suite may take to see a failure.
POLL_SECONDS = 0.5


def resolve_target(name: str | None, configuration: Mapping[str, Any] | None) -> Target:
    """The target profile ``name`` (else the experiment's ``target`` variable, else ``local``)."""
    chosen = name or str((configuration or {}).get("target") or "local")
    targets_file = (configuration or {}).get("targets_file") or DEFAULT_TARGETS_FILE
    try:
        return load_target(chosen, targets_file)
    except TargetError as error:
        raise ActivityFailed(str(error)) from None


@contextlib.contextmanager
def opened(target: Target) -> Iterator[Platform]:
    """The target's platform for the duration of one activity."""
    try:
        platform = platform_for(target)
    except (PlatformError, ImportError) as error:
        raise ActivityFailed(f"target {target.name!r}: no platform access: {error}") from None
    try:
        yield platform
    except (PlatformError, ProbeError) as error:
        raise ActivityFailed(str(error)) from None
    finally:
        platform.close()


def guard(target: Target) -> None:
    """Refuse before any change on a target that does not allow chaos."""
    try:
        require_chaos_allowed(target)
    except ChaosNotAllowed as error:
        logger.error(str(error))
        raise ActivityFailed(str(error)) from None


def events(configuration: Mapping[str, Any] | None) -> EventLog:
    return EventLog.for_configuration(configuration)


def progress(configuration: Mapping[str, Any] | None, phase: str, message: str) -> None:
    """One progress line (experiment, phase, elapsed since the experiment's first event)."""
    log = events(configuration)
    history = log.read()
    elapsed = time.time() - history[0].at if history else 0.0
    log.record("phase", phase=phase, message=message)
    logger.info(f"[gameday] {log.mode} | {phase} | +{elapsed:.1f}s | {message}")


def wait_until(
    condition: Callable[[], T | None], *, deadline: float, what: str, interval: float = POLL_SECONDS
) -> T:
    """Poll ``condition`` until it returns a value (not None) or ``deadline`` seconds pass.

    A probe error while polling is the failure still showing (e.g. the API refusing connections),
    so it counts as "not yet", and the last one is named if the deadline passes."""
    end = time.monotonic() + deadline
    last_error = ""
    while True:
        try:
            found = condition()
        except (ProbeError, PlatformError) as error:
            found, last_error = None, str(error)
        if found is not None:
            return found
        if time.monotonic() >= end:
            suffix = f" (last error: {last_error})" if last_error else ""
            raise ActivityFailed(f"{what} not seen within {deadline:g} s{suffix}")
        time.sleep(min(interval, max(0.0, end - time.monotonic())))


def lingering_alerts(report: VerificationReport, tolerate_alerts: Sequence[str]) -> list[str] | None:
    """The tolerated alerts still firing when they are Verification's only failure, else None.

    Some alerts outlast the failure by their expression's window (``PodCrashLooping`` counts restarts
    over 10 minutes), longer than the runbook's 3-minute verification budget; an experiment may name
    them so that they do not hold up the verdict (the game day records them as a finding)."""
    if report.passed:
        return []
    firing = sorted(
        {
            a.name
            for a in report.observations.alerts.value or []
            if a.state == "firing" and a.name in RUNBOOK_ALERTS
        }
    )
    only_alerts = all(
        step.step == "Verification 5" and step.message.startswith("firing:") for step in report.failures
    )
    if only_alerts and firing and set(firing) <= set(tolerate_alerts):
        return firing
    return None


def verified(target: Target, platform: Platform, tolerate_alerts: Sequence[str] = ()) -> bool:
    """Verification 1-5 pass (alerts in ``tolerate_alerts`` may still be firing)."""
    return lingering_alerts(verify(target, platform), tolerate_alerts) is not None


def tolerated_alerts(configuration: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The experiment's ``tolerate_alerts`` configuration (comma-separated alert names)."""
    text = str((configuration or {}).get("tolerate_alerts") or "")
    return tuple(name.strip() for name in text.split(",") if name.strip())
