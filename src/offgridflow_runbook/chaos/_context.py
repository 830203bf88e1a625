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
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from chaoslib.exceptions import ActivityFailed

from offgridflow_runbook.gameday.events import EventKind, EventLog
from offgridflow_runbook.platforms import Platform, PlatformError, platform_for
from offgridflow_runbook.probes.http import ApiProbe, ProbeError
from offgridflow_runbook.runbook.verification import verify
from offgridflow_runbook.targets import (
    DEFAULT_TARGETS_FILE,
    ChaosNotAllowed,
    Target,
    TargetError,
    load_target,
    require_chaos_allowed,
)

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


def event_log(configuration: Mapping[str, Any] | None) -> EventLog:
    return EventLog.for_configuration(configuration)


def progress(configuration: Mapping[str, Any] | None, phase: str, message: str) -> None:
    """One progress line (experiment, phase, elapsed since the experiment's first event)."""
    log = event_log(configuration)
    history = log.read()
    elapsed = time.time() - history[0].at if history else 0.0
    log.record(EventKind.PHASE, phase=phase, message=message)
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


def verified(target: Target, platform: Platform) -> bool:
    """Verification 1-5 pass, with no runbook alert firing: none is tolerated (an alert that outlasts
    its failure is a finding about the alert, which the rules fix, not something to wave through)."""
    return verify(target, platform).passed


def healed_by_itself(configuration: Mapping[str, Any] | None) -> bool:
    """Whether this run's fault went away with no fix (``self_healed_at`` in the event log): the
    triage, fix and page steps after it have nothing to act on and step aside."""
    log = event_log(configuration)
    fault = log.first(EventKind.FAULT_AT)
    return fault is not None and log.first(EventKind.SELF_HEALED_AT, after=fault.at) is not None


def image_with_tag(image: str, tag: str) -> str:
    """``registry:5000/offgridflow-api:v1.3.0`` with ``tag`` instead of ``v1.3.0``."""
    name, _, last = image.rpartition("/")
    repository = last.split("@", 1)[0].split(":", 1)[0]
    return f"{name}/{repository}:{tag}" if name else f"{repository}:{tag}"


def current_image(platform: Platform) -> str:
    """The API's image now: the newest rollout revision's, else a running instance's."""
    history = platform.rollout_history()
    if history:
        return history[-1].image
    workloads = platform.api_workloads()
    if not workloads:
        raise ActivityFailed("no API instance found to take the image name from")
    return workloads[0].image


def ready_now(api: ApiProbe) -> bool:
    """``/health/ready`` answers 200 with ``status: healthy`` (no answer in time is not ready)."""
    try:
        answer = api.ready()
    except ProbeError:
        return False
    body = answer.json()
    return answer.status == 200 and isinstance(body, dict) and body.get("status") == "healthy"


def last_fix_started(log: EventLog) -> float:
    """When the newest fix (or, before any fix, the fault) started; 0 when neither has."""
    fixes = [event.at for event in log.read() if event.kind in (EventKind.FIX_STARTED_AT, EventKind.FAULT_AT)]
    return max(fixes) if fixes else 0.0
