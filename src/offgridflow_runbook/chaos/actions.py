"""Chaos Toolkit actions (changes) of the OffGridFlow runbook extension: the faults and the
runbook's fixes, by their runbook names.

Every action first checks the safety guard: a target whose profile does not say
``allow_chaos: true`` (production, staging) is refused with
:class:`~chaoslib.exceptions.ActivityFailed` before anything is touched. Actions reach the target
through its platform driver only, so the same experiment runs on Docker and on Kubernetes.

chaostoolkit-kubernetes offers ``terminate_pods`` and ``scale_deployment``, but not rollout undo,
set image or memory limits, and nothing for Docker; mixing it in would make half of each experiment
Kubernetes-only, so the platform drivers carry all of them instead.

Each action records its moment (``fault_at`` or ``fix_started_at``) in the game day's event log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from offgridflow_runbook.chaos._context import (
    events,
    guard,
    healed_by_itself,
    opened,
    progress,
    resolve_target,
    verified,
)
from offgridflow_runbook.chaos._verdicts import start_watch, stop_watch
from offgridflow_runbook.chaos._writer import BackgroundWriter
from offgridflow_runbook.gameday.events import EventKind
from offgridflow_runbook.platforms import Platform, PlatformError
from offgridflow_runbook.probes.http import ApiProbe, ProbeError
from offgridflow_runbook.runbook.commands import known_good_tag
from offgridflow_runbook.targets import Target

__all__ = [
    "crash_database_repeatedly",
    "ensure_memory_limit",
    "fix_1_restart_database_then_api",
    "fix_2_patch_memory",
    "fix_3_rollout_undo",
    "fix_4_set_known_good_image",
    "kill_database",
    "memory_assault",
    "restore_config",
    "set_image",
    "start_background_writer",
    "stop_background_writer",
    "update_config",
    "use_hashed_config",
    "use_in_place_config",
]

_ALREADY_HEALTHY = "already healthy; nothing to fix"
_HEALED = "healed by itself; the fix was not applied"
_writers: dict[str, BackgroundWriter] = {}
_writers_lock = threading.Lock()


def _image_with_tag(image: str, tag: str) -> str:
    """``registry:5000/offgridflow-api:v1.3.0`` with ``tag`` instead of ``v1.3.0``."""
    name, _, last = image.rpartition("/")
    repository = last.split("@", 1)[0].split(":", 1)[0]
    return f"{name}/{repository}:{tag}" if name else f"{repository}:{tag}"


def _current_image(platform: Platform) -> str:
    history = platform.rollout_history()
    if history:
        return history[-1].image
    workloads = platform.api_workloads()
    if not workloads:
        raise ActivityFailed("no API instance found to take the image name from")
    return workloads[0].image


# -- faults ------------------------------------------------------------------------------------------
def memory_assault(
    mib: int = 700,
    hold_seconds: float = 30.0,
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, object]:
    """The OOM fault: ask the API to allocate and touch ``mib`` MiB (above its memory limit), so the
    kernel kills it. The request itself usually dies with the process; that is the expected outcome."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    progress(configuration, "fault", f"memory assault: {mib} MiB in the API process")
    events(configuration).record(EventKind.FAULT_AT, fault=f"memory assault {mib} MiB")
    start_watch(chosen, configuration)
    with ApiProbe(chosen, timeout=60.0) as api:
        try:
            answer = api.memory_assault(mib, hold_seconds)
        except ProbeError as error:
            return {"survived": False, "detail": str(error)}
    if answer.status == 404:
        raise ActivityFailed(
            f"the memory assault is not enabled on {chosen.name!r} (OFFGRIDFLOW_CHAOS_ASSAULTS)"
        )
    return {"survived": answer.status == 200, "status": answer.status}


def ensure_memory_limit(
    limit: str = "512Mi",
    request: str = "256Mi",
    target: str | None = None,
    rollout_timeout: float = 120.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Put the API's memory limit/request back to the baseline the OOM fault is sized for (a previous
    game day's Fix 2 may have raised them); nothing is rolled out when they are already so."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    with opened(chosen) as platform:
        latest = platform.rollout_history()[-1:] or None
        if latest and latest[0].memory_limit == limit and latest[0].memory_request == request:
            return "already at the baseline"
        progress(configuration, "prepare", f"memory limit {limit} / request {request}")
        platform.patch_memory(limit=limit, request=request)
        return platform.wait_rollout(rollout_timeout).message


def kill_database(
    target: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> str:
    """The DB-kill fault: kill the postgres pod/container (SIGKILL)."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    progress(configuration, "fault", "kill the database")
    with opened(chosen) as platform:
        events(configuration).record(EventKind.FAULT_AT, fault="database killed")
        start_watch(chosen, configuration)
        platform.kill_database()
    return "database killed"


def crash_database_repeatedly(
    times: int = 4,
    max_seconds: float = 180.0,
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """The crash-looping database fault: crash PostgreSQL in its container ``times`` times, each
    time as soon as it is ready again, for at most ``max_seconds``.

    Each crash is ``pg_ctl stop -m immediate`` inside the container (the server dies, the container
    exits, nothing is deleted). On Kubernetes kubelet restarts it with a back-off that doubles at
    each crash (10 s, 20 s, 40 s, 80 s ...), so after the last one the database stays down in
    CrashLoopBackOff: the outage a real crash-looping database is, which the StatefulSet does not
    heal the way it replaces a deleted pod. Bounded in count and time; it stops by itself."""
    if times < 1:
        raise ActivityFailed("crash_database_repeatedly needs times >= 1")
    chosen = resolve_target(target, configuration)
    guard(chosen)
    log = events(configuration)
    deadline = time.monotonic() + max_seconds
    crashes = 0
    with opened(chosen) as platform:
        while crashes < times:
            progress(configuration, "fault", f"crash the database ({crashes + 1} of {times})")
            if crashes == 0:
                log.record(
                    EventKind.FAULT_AT, fault=f"database crashed {times} times (pg_ctl stop -m immediate)"
                )
                start_watch(chosen, configuration)
            try:
                platform.crash_database()
            except PlatformError as error:
                raise ActivityFailed(f"crash {crashes + 1} of {times}: {error}") from None
            crashes += 1
            if crashes == times:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                platform.wait_database_ready(timeout=left)
            except PlatformError:
                break  # still down at the deadline: the fault is in place, stop crashing
    log.record(EventKind.NOTE, text=f"the database crashed {crashes} times; the last crash left it down")
    return f"database crashed {crashes} times"


def set_image(
    tag: str = "v9.9.9-does-not-exist",
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """The bad-image fault: ``kubectl set image deployment/offgridflow-api api=<repository>:<tag>``."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    with opened(chosen) as platform:
        image = _image_with_tag(_current_image(platform), tag)
        progress(configuration, "fault", f"set image {image}")
        events(configuration).record(EventKind.FAULT_AT, fault=f"set image {image}", image=image)
        start_watch(chosen, configuration)
        platform.set_image(image)
    return image


def update_config(
    key: str = "OFFGRIDFLOW_DB_POOL_MAX",
    value: str = "lots",
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """The bad-config fault: write ``key=value`` into ``offgridflow-config`` and roll the API out."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    progress(configuration, "fault", f"offgridflow-config {key}={value}, rolled out")
    with opened(chosen) as platform:
        previous = platform.config().get(key)
        events(configuration).record(
            EventKind.FAULT_AT, fault=f"config {key}={value}", key=key, previous=previous
        )
        start_watch(chosen, configuration)
        platform.update_config({key: value})
        # the Kubernetes driver says how the ConfigMap changed; Fix 3 reads `offgridflow-config` by name
        update = getattr(platform, "last_config_update", None)
        if update is not None and update.finding:
            events(configuration).record(EventKind.FINDING, text=update.finding)
        elif update is not None and update.config_map != "offgridflow-config":
            events(configuration).record(
                "finding",
                text=f"Fix 3's `kubectl get configmap offgridflow-config` answers NotFound: the Deployment "
                f"reads the generated ConfigMap {update.config_map}",
            )
    return f"{key}={value}"


# -- the ConfigMap scheme (Kubernetes) ------------------------------------------------------------------
def _config_schemes(platform: Platform) -> Any:
    if not hasattr(platform, "adopt_in_place_config") or not hasattr(platform, "adopt_hashed_config"):
        raise ActivityFailed(
            f"the {platform.kind} platform has one configuration scheme; this needs Kubernetes"
        )
    return platform


def use_in_place_config(
    rollout_timeout: float = 180.0,
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Make the API read ConfigMap ``offgridflow-config`` under its plain name (edited in place, as
    ``kubectl edit configmap`` does) instead of kustomize's ``offgridflow-config-<hash>``; rolls out.

    Not a fault: the set-up of the in-place bad-config experiment (Kubernetes only)."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    progress(configuration, "set-up", "the API reads offgridflow-config edited in place")
    with opened(chosen) as platform:
        _config_schemes(platform).adopt_in_place_config()
        events(configuration).record(EventKind.NOTE, text="the API reads offgridflow-config, edited in place")
        return platform.wait_rollout(rollout_timeout).message


def use_hashed_config(
    rollout_timeout: float = 180.0,
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Back to kustomize's scheme: the API reads ``offgridflow-config-<hash>`` with the current data,
    and the plain ``offgridflow-config`` is deleted (Kubernetes only; a rollback)."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    progress(configuration, "clean-up", "the API reads a hashed offgridflow-config again")
    with opened(chosen) as platform:
        _config_schemes(platform).adopt_hashed_config()
        return platform.wait_rollout(rollout_timeout).message


def restore_config(
    only_if_broken: bool = False,
    rollout_timeout: float = 180.0,
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Put back the value the bad-config fault replaced and restart the API: what Fix 3 has to do
    when ``rollout undo`` cannot (a ConfigMap edited in place), i.e. ``kubectl apply`` the ConfigMap
    from version control, then ``kubectl rollout restart deployment/offgridflow-api``."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    fault = events(configuration).first(EventKind.FAULT_AT)
    if fault is None or "key" not in fault.detail:
        if only_if_broken:
            return _ALREADY_HEALTHY
        raise ActivityFailed("no bad-config fault in this run: there is no value to restore")
    key, previous = str(fault.detail["key"]), fault.detail.get("previous")
    with opened(chosen) as platform:
        if only_if_broken and not _fault_still_present(chosen, configuration, platform):
            return _ALREADY_HEALTHY
        if previous is None:
            raise ActivityFailed(
                f"{key} had no value before the fault; remove it by hand from offgridflow-config"
            )
        progress(configuration, "fix", f"restore offgridflow-config {key}={previous}, rollout restart")
        events(configuration).record(
            "note", text=f"restored offgridflow-config {key}={previous} and restarted the API"
        )
        platform.update_config({key: str(previous)})
        return platform.wait_rollout(rollout_timeout).message


# -- the runbook's fixes -----------------------------------------------------------------------------
def _apply_fix(
    target: str | None,
    configuration: Configuration,
    only_if_broken: bool,
    describe: Callable[[Platform], str],
    apply: Callable[[Platform], None],
    rollout_timeout: float,
) -> str:
    """Guard, skip when a rollback finds nothing to fix, record the fix's start, apply it and wait
    for the API's rollout."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    stop_watch(configuration)  # the verdicts that count are those before the fix
    if not only_if_broken and healed_by_itself(configuration):
        progress(configuration, "fix", "no fix: the fault healed by itself")
        return _HEALED
    with opened(chosen) as platform:
        if only_if_broken and not _fault_still_present(chosen, configuration, platform):
            return _ALREADY_HEALTHY
        fix = describe(platform)
        events(configuration).record(EventKind.FIX_STARTED_AT, fix=fix)
        progress(configuration, "fix", fix)
        apply(platform)
        return platform.wait_rollout(rollout_timeout).message


def fix_1_restart_database_then_api(
    target: str | None = None,
    timeout: float = 120.0,
    only_if_broken: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Fix 1: restart the database, wait until it is ready, then restart the API.

    With ``only_if_broken`` (rollbacks) nothing is done when Verification already passes."""

    def restart(platform: Platform) -> None:
        looping = [w.name for w in platform.database_workloads() if w.waiting_reason == "CrashLoopBackOff"]
        started = time.monotonic()
        platform.restart_database()
        platform.wait_database_ready(timeout)
        took = time.monotonic() - started
        if looping:
            events(configuration).record(
                "finding",
                text=f"Fix 1 met {', '.join(looping)} in CrashLoopBackOff: `kubectl rollout restart "
                f"statefulset/postgres` and the wait took {took:.0f} s, because a StatefulSet "
                "(podManagementPolicy OrderedReady) does not replace a pod that is not ready; it waits "
                "for kubelet's back-off to start it again. Suggested runbook change: when the postgres "
                "pod is in CrashLoopBackOff, `kubectl delete pod -n offgridflow -l app=postgres` (the "
                "StatefulSet recreates it at once) before the wait.",
                looping=looping,
                took_s=round(took, 1),
            )
        platform.rollout_restart()

    describe = "Fix 1: restart postgres, wait until ready, rollout restart offgridflow-api"
    return _apply_fix(target, configuration, only_if_broken, lambda _: describe, restart, timeout)


def fix_2_patch_memory(
    limit: str = "2Gi",
    request: str = "1Gi",
    target: str | None = None,
    rollout_timeout: float = 120.0,
    only_if_broken: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Fix 2: raise container ``api``'s memory limit/request (2Gi/1Gi) and wait for the rollout.

    With ``only_if_broken`` (rollbacks) nothing is done when Verification already passes."""
    return _apply_fix(
        target,
        configuration,
        only_if_broken,
        lambda _: f"Fix 2: memory limit {limit}, request {request}",
        lambda platform: platform.patch_memory(limit=limit, request=request),
        rollout_timeout,
    )


def fix_3_rollout_undo(
    target: str | None = None,
    rollout_timeout: float = 120.0,
    only_if_broken: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Fix 3: ``kubectl rollout undo deployment/offgridflow-api`` and wait for the rollout.

    With ``only_if_broken`` (rollbacks after the method's fix) nothing is done when the bad value is
    gone and Verification passes: a second undo would bring the bad configuration back."""
    return _apply_fix(
        target,
        configuration,
        only_if_broken,
        lambda _: "Fix 3: rollout undo",
        lambda platform: platform.rollout_undo(),
        rollout_timeout,
    )


def fix_4_set_known_good_image(
    tag: str | None = None,
    target: str | None = None,
    rollout_timeout: float = 120.0,
    only_if_broken: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Fix 4: set the API's image to the last known-good tag and wait for the rollout. The tag is
    the one the runbook's Fix 4 sets (``kubectl set image ... api=<image>:<tag>``) unless ``tag``
    names another.

    With ``only_if_broken`` (rollbacks) nothing is done when Verification already passes."""
    tag = tag or known_good_tag()
    return _apply_fix(
        target,
        configuration,
        only_if_broken,
        lambda platform: f"Fix 4: set image {_image_with_tag(_current_image(platform), tag)}",
        lambda platform: platform.set_image(_image_with_tag(_current_image(platform), tag)),
        rollout_timeout,
    )


def _fault_still_present(target: Target, configuration: Configuration, platform: Platform) -> bool:
    """Whether a rollback has something of *this run* to fix. Without a fault there is nothing to
    undo: a rollout undo of a healthy API would bring back whatever the previous revision ran.

    A bad value or a bad image is still present only while it is still configured: once it is gone,
    a Verification that fails for another reason (an alert still resolving) must not trigger the fix
    again, because a second ``rollout undo`` undoes the first and brings the fault back (seen on kind).
    Other faults are present while Verification 1-5 does not pass."""
    fault = events(configuration).first(EventKind.FAULT_AT)
    if fault is None:
        return False
    text = str(fault.detail.get("fault", ""))
    if text.startswith("config "):
        key, _, value = text.removeprefix("config ").partition("=")
        return platform.config().get(key) == value
    if "image" in fault.detail:
        return _current_image(platform) == str(fault.detail["image"])
    return not verified(target, platform)


# -- the background writer ---------------------------------------------------------------------------
def start_background_writer(
    target: str | None = None,
    max_writes: int = 3000,
    max_seconds: float = 180.0,
    interval: float = 0.05,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Post activities in the background (at most ``max_writes`` and ``max_seconds``), remembering
    every acknowledged id, until :func:`stop_background_writer`."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    if not chosen.allow_writes:
        raise ActivityFailed(f"target {chosen.name!r} does not allow writes")
    mode = events(configuration).mode
    writer = BackgroundWriter(
        chosen, max_writes=max_writes, max_seconds=max_seconds, interval=interval, source=f"gameday-{mode}"
    )
    with _writers_lock:
        previous = _writers.pop(mode, None)
        _writers[mode] = writer
    if previous is not None:
        previous.stop()
    writer.start()
    progress(
        configuration, "writes", f"background writer started (<= {max_writes} writes, {max_seconds:g} s)"
    )
    return "started"


def stop_background_writer(
    target: str | None = None,
    missing_ok: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, int]:
    """Stop the background writer and record the acknowledged ids for :func:`no_acked_write_lost`
    (``missing_ok`` for rollbacks, where the method may already have stopped it)."""
    mode = events(configuration).mode
    with _writers_lock:
        writer = _writers.pop(mode, None)
    if writer is None:
        if missing_ok:
            return {"acked": 0, "failed": 0, "attempts": 0}
        raise ActivityFailed("no background writer is running (start_background_writer first)")
    result = writer.stop()
    events(configuration).record(
        "writes", acked=result.acked_ids, failed=result.failed, attempts=result.attempts
    )
    progress(
        configuration, "writes", f"writer stopped: {len(result.acked_ids)} acked, {result.failed} refused"
    )
    return {"acked": len(result.acked_ids), "failed": result.failed, "attempts": result.attempts}
