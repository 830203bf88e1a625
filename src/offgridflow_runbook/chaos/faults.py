"""The faults (and their set-up): each applies one failure mode the runbook names and records ``fault_at``."""

from __future__ import annotations

import time
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from offgridflow_runbook.chaos._context import (
    current_image,
    event_log,
    image_with_tag,
    progress,
)
from offgridflow_runbook.chaos._fault import fault_scene
from offgridflow_runbook.chaos._ledger import (
    before_fault,
    config_undo,
    database_undo,
    image_undo,
    in_place_config_undo,
    oom_undo,
    selector_undo,
)
from offgridflow_runbook.chaos.registry import changes_target
from offgridflow_runbook.gameday.events import EventKind
from offgridflow_runbook.gameday.findings import FindingId
from offgridflow_runbook.ledger import is_secret_key
from offgridflow_runbook.platforms import Platform, PlatformError, label_selector
from offgridflow_runbook.probes.http import ApiProbe, ProbeError

__all__ = [
    "break_service_selector",
    "crash_database_repeatedly",
    "ensure_memory_limit",
    "kill_database",
    "memory_assault",
    "set_image",
    "update_config",
    "use_hashed_config",
    "use_in_place_config",
]


@changes_target
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
    with fault_scene(target, configuration) as scene:
        platform = scene.platform
        latest = platform.rollout_history()[-1:] or None
        if latest and latest[0].memory_limit == limit and latest[0].memory_request == request:
            return "already at the baseline"
        progress(configuration, "prepare", f"memory limit {limit} / request {request}")
        platform.patch_memory(limit=limit, request=request)
        return platform.wait_rollout(rollout_timeout).message


# -- faults ------------------------------------------------------------------------------------------
@changes_target
def memory_assault(
    mib: int = 700,
    hold_seconds: float = 30.0,
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, object]:
    """The OOM fault: ask the API to allocate and touch ``mib`` MiB (above its memory limit), so the
    kernel kills it. The request itself usually dies with the process; that is the expected outcome."""
    with fault_scene(target, configuration) as scene:
        chosen = scene.target
        progress(configuration, "fault", f"memory assault: {mib} MiB in the API process")
        scene.mark(f"memory assault {mib} MiB", *oom_undo(chosen))
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


@changes_target
def kill_database(
    target: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> str:
    """The DB-kill fault: kill the postgres pod/container (SIGKILL)."""
    with fault_scene(target, configuration) as scene:
        progress(configuration, "fault", "kill the database")
        platform = scene.platform
        scene.mark("database killed", *database_undo())
        platform.kill_database()
    return "database killed"


@changes_target
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
    deadline = time.monotonic() + max_seconds
    crashes = 0
    with fault_scene(target, configuration) as scene:
        log = event_log(configuration)
        platform = scene.platform
        while crashes < times:
            progress(configuration, "fault", f"crash the database ({crashes + 1} of {times})")
            if crashes == 0:
                scene.mark(
                    f"database crashed {times} times (pg_ctl stop -m immediate)",
                    *database_undo(),
                    entry=f"database crashed {times} times",
                )
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


@changes_target
def set_image(
    tag: str = "v9.9.9-does-not-exist",
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """The bad-image fault: ``kubectl set image deployment/offgridflow-api api=<repository>:<tag>``."""
    with fault_scene(target, configuration) as scene:
        platform = scene.platform
        image = image_with_tag(current_image(platform), tag)
        progress(configuration, "fault", f"set image {image}")
        scene.mark(f"set image {image}", image_undo(current_image(platform)), image=image)
        platform.set_image(image)
    return image


@changes_target
def update_config(
    key: str = "OFFGRIDFLOW_DB_POOL_MAX",
    value: str = "lots",
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """The bad-config fault: write ``key=value`` into ``offgridflow-config`` and roll the API out."""
    with fault_scene(target, configuration) as scene:
        progress(configuration, "fault", f"offgridflow-config {key}={value}, rolled out")
        platform = scene.platform
        previous = platform.config().get(key)
        scene.mark(  # a secret's value is never written, in the event log or in the ledger
            f"config {key}={value}",
            config_undo(key, previous),
            key=key,
            previous=None if is_secret_key(key) else previous,
        )
        platform.update_config({key: value})
        # the Kubernetes driver says how the ConfigMap changed; Fix 3 reads `offgridflow-config` by name
        update = getattr(platform, "last_config_update", None)
        if update is not None and update.finding:
            event_log(configuration).record(
                EventKind.FINDING, id=FindingId.FIX_3_CONFIG_EDITED_IN_PLACE, text=update.finding
            )
        elif update is not None and update.config_map != "offgridflow-config":
            event_log(configuration).record(
                EventKind.FINDING,
                id=FindingId.FIX_3_CONFIGMAP_GENERATED,
                text=f"Fix 3's `kubectl get configmap offgridflow-config` answers NotFound: the Deployment "
                f"reads the generated ConfigMap {update.config_map}",
            )
    return f"{key}={value}"


@changes_target
def break_service_selector(
    label: str = "offgridflow.io/chaos",
    value: str = "network",
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, str]:
    """The network fault (Triage 2D): the API Service's selector gains ``label=value``, which no API
    instance carries, so the Service selects none of them while they all keep running and ready."""
    with fault_scene(target, configuration) as scene:
        platform = scene.platform
        selector = platform.api_service_selector()
        broken = {**selector, label: value}
        shown = label_selector(broken)
        progress(configuration, "fault", f"service selector {shown}")
        scene.mark(f"service selector {shown}", selector_undo(selector), selector=selector, broken=broken)
        platform.set_api_service_selector(broken)
    return broken


# -- the ConfigMap scheme (Kubernetes) ------------------------------------------------------------------
def _config_schemes(platform: Platform) -> Any:
    if not hasattr(platform, "adopt_in_place_config") or not hasattr(platform, "adopt_hashed_config"):
        raise ActivityFailed(
            f"the {platform.kind} platform has one configuration scheme; this needs Kubernetes"
        )
    return platform


@changes_target
def use_in_place_config(
    rollout_timeout: float = 180.0,
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Make the API read ConfigMap ``offgridflow-config`` under its plain name (edited in place, as
    ``kubectl edit configmap`` does) instead of kustomize's ``offgridflow-config-<hash>``; rolls out.

    Not a fault: the set-up of the in-place bad-config experiment (Kubernetes only)."""
    with fault_scene(target, configuration) as scene:
        progress(configuration, "set-up", "the API reads offgridflow-config edited in place")
        platform = scene.platform
        schemes = _config_schemes(platform)
        # not a fault (no fault_at): its ledger entry alone, before the change
        before_fault(
            scene.target, configuration, "offgridflow-config edited in place", in_place_config_undo()
        )
        schemes.adopt_in_place_config()
        event_log(configuration).record(
            EventKind.NOTE, text="the API reads offgridflow-config, edited in place"
        )
        return platform.wait_rollout(rollout_timeout).message


@changes_target
def use_hashed_config(
    rollout_timeout: float = 180.0,
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Back to kustomize's scheme: the API reads ``offgridflow-config-<hash>`` with the current data,
    and the plain ``offgridflow-config`` is deleted (Kubernetes only; a rollback)."""
    with fault_scene(target, configuration) as scene:
        progress(configuration, "clean-up", "the API reads a hashed offgridflow-config again")
        platform = scene.platform
        _config_schemes(platform).adopt_hashed_config()
        return platform.wait_rollout(rollout_timeout).message
