"""What every activity needs: the target, its platform, the event log, progress, and the guard.

Activities are called by Chaos Toolkit with plain arguments; this module turns ``target`` (a
profile name) into a :class:`Target` and a platform through ``platform_for`` - never Docker or
Kubernetes directly - and turns the suite's own errors into :class:`ActivityFailed` with a one-line
message.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from chaoslib.exceptions import ActivityFailed

from offgridflow_runbook.gameday.events import EventKind, EventLog
from offgridflow_runbook.platforms import Platform, PlatformError, SeenIdentity, platform_for
from offgridflow_runbook.platforms.identity import identity_mismatch, undeclared_identity
from offgridflow_runbook.probes.http import ApiProbe, ProbeError
from offgridflow_runbook.runbook.verification import verify
from offgridflow_runbook.targets import (
    DEFAULT_TARGETS_FILE,
    RESOLVED_TARGET_ENV,
    TARGET_FINGERPRINT_ENV,
    ChaosNotAllowed,
    Target,
    TargetError,
    load_target,
    read_resolved_target,
    require_chaos_allowed,
    target_fingerprint,
)

logger = logging.getLogger("chaostoolkit")
T = TypeVar("T")

# Polling period of every wait: well under the 2 s the suite may take to see a failure.
POLL_SECONDS = 0.5


# The target an activity registered with the guard (chaos.registry) has already checked, while its
# body runs: the body's own ``guard(chosen)`` then does not read the identity a second time.
_GUARDED: contextvars.ContextVar[Target | None] = contextvars.ContextVar("offgridflow_guarded", default=None)


def resolve_target(name: str | None, configuration: Mapping[str, Any] | None) -> Target:
    """The target profile ``name`` (else the experiment's ``target`` variable, else ``local``).

    Under a game day the target was resolved once by the process that scores (file and overrides)
    and written to a file (``resolved_target`` in the configuration or ``$OFFGRIDFLOW_RESOLVED_TARGET``,
    with its fingerprint in ``target_fingerprint`` / ``$OFFGRIDFLOW_TARGET_FINGERPRINT``): that file is
    the target, and a fingerprint that differs, or an activity naming another target, is refused."""
    settings = configuration or {}
    chosen = name or str(settings.get("target") or "local")
    resolved = settings.get("resolved_target") or os.environ.get(RESOLVED_TARGET_ENV)
    try:
        if not resolved:
            return load_target(chosen, settings.get("targets_file") or DEFAULT_TARGETS_FILE)
        fingerprint = str(settings.get("target_fingerprint") or os.environ.get(TARGET_FINGERPRINT_ENV) or "")
        target = read_resolved_target(str(resolved), fingerprint)
    except TargetError as error:
        raise _refused(str(error)) from None
    if target.name != chosen:
        raise _refused(
            f"target {chosen!r}: refusing: this game day's target is {target.name!r} (resolved in {resolved})"
        )
    return target


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


def _refused(message: str) -> ActivityFailed:
    logger.error(message)
    return ActivityFailed(message)


def seen_identity(target: Target) -> SeenIdentity:
    """What answers for ``target``, refused (ActivityFailed, one line: expected, found) unless it is
    the system the target declares. The client's own configuration is compared first, so an API
    server that is not the declared one is never contacted; then the system is asked."""
    if reason := undeclared_identity(target):
        raise _refused(reason)
    try:
        platform = platform_for(target)
    except (PlatformError, ImportError) as error:
        raise _refused(f"target {target.name!r}: refusing: cannot read what answers: {error}") from None
    try:
        for contact in (False, True):
            seen = platform.identity(contact=contact)
            if problem := identity_mismatch(target, seen):
                raise _refused(problem)
    except PlatformError as error:
        raise _refused(f"target {target.name!r}: refusing: cannot read what answers: {error}") from None
    finally:
        platform.close()
    return seen


def guard(
    target: Target, configuration: Mapping[str, Any] | None = None, *, activity: str = ""
) -> SeenIdentity | None:
    """Refuse (ActivityFailed, one line) before any change: a target that does not allow chaos, then
    one whose identity is undeclared or is not what answers. The identity seen goes into the event
    log (when ``configuration`` names one). Within an activity the registry already guarded, this
    returns at once (None): that target was checked moments ago."""
    if _GUARDED.get() == target:
        return None
    try:
        require_chaos_allowed(target)
    except ChaosNotAllowed as error:
        raise _refused(str(error)) from None
    seen = seen_identity(target)
    if configuration is not None:
        event_log(configuration).record(
            EventKind.IDENTITY,
            activity=activity,
            target=target.name,
            fingerprint=target_fingerprint(target),
            seen=seen.as_dict(),
        )
    return seen


@contextlib.contextmanager
def guarded(target: Target, configuration: Mapping[str, Any] | None, activity: str) -> Iterator[None]:
    """Run the guard for ``target``, then the block with the guard satisfied for that very target."""
    guard(target, configuration, activity=activity)
    token = _GUARDED.set(target)
    try:
        yield
    finally:
        _GUARDED.reset(token)


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
