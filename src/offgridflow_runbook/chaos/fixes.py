"""The runbook's fixes (Fix 1-4), the fix the suite proposes where the runbook has none (Fix 5, Triage
2D), and the rollbacks that undo a fault only while it is still present."""

from __future__ import annotations

import time
from collections.abc import Callable

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from offgridflow_runbook.chaos._context import (
    current_image,
    event_log,
    guard,
    healed_by_itself,
    image_with_tag,
    opened,
    progress,
    resolve_target,
    verified,
)
from offgridflow_runbook.chaos._verdicts import stop_watch
from offgridflow_runbook.chaos.registry import changes_target
from offgridflow_runbook.gameday.events import EventKind
from offgridflow_runbook.gameday.findings import FindingId
from offgridflow_runbook.ledger import is_secret_key
from offgridflow_runbook.platforms import Platform, label_selector
from offgridflow_runbook.runbook.commands import known_good_tag
from offgridflow_runbook.targets import Target

__all__ = [
    "fix_1_restart_database_then_api",
    "fix_2_patch_memory",
    "fix_3_rollout_undo",
    "fix_4_set_known_good_image",
    "fix_5_select_the_deployments_pods",
    "restore_config",
]


_ALREADY_HEALTHY = "already healthy; nothing to fix"


_HEALED = "healed by itself; the fix was not applied"


def _fault_still_present(target: Target, configuration: Configuration, platform: Platform) -> bool:
    """Whether a rollback has something of *this run* to fix. Without a fault there is nothing to
    undo: a rollout undo of a healthy API would bring back whatever the previous revision ran.

    A bad value or a bad image is still present only while it is still configured: once it is gone,
    a Verification that fails for another reason (an alert still resolving) must not trigger the fix
    again, because a second ``rollout undo`` undoes the first and brings the fault back (seen on kind).
    Other faults are present while Verification 1-5 does not pass."""
    fault = event_log(configuration).first(EventKind.FAULT_AT)
    if fault is None:
        return False
    text = str(fault.detail.get("fault", ""))
    if text.startswith("config "):
        key, _, value = text.removeprefix("config ").partition("=")
        return platform.config().get(key) == value
    if "image" in fault.detail:
        return current_image(platform) == str(fault.detail["image"])
    if "broken" in fault.detail:
        return platform.api_service_selector() == dict(fault.detail["broken"])
    return not verified(target, platform)


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
        event_log(configuration).record(EventKind.FIX_STARTED_AT, fix=fix)
        progress(configuration, "fix", fix)
        apply(platform)
        return platform.wait_rollout(rollout_timeout).message


@changes_target
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
            event_log(configuration).record(
                EventKind.FINDING,
                id=FindingId.FIX_1_DATABASE_CRASH_LOOPING,
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


@changes_target
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


@changes_target
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


@changes_target
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
        lambda platform: f"Fix 4: set image {image_with_tag(current_image(platform), tag)}",
        lambda platform: platform.set_image(image_with_tag(current_image(platform), tag)),
        rollout_timeout,
    )


def _pods_selector(platform: Platform, configuration: Configuration) -> dict[str, str]:
    """What the API Service must select: the Deployment's own pod selector, as an operator reads it
    (``kubectl get deployment offgridflow-api -o jsonpath='{.spec.selector.matchLabels}'``); a
    platform without Deployments (Docker) falls back to the selector recorded before this run's fault."""
    read = getattr(platform, "api_pod_selector", None)
    if read is not None:
        selector: dict[str, str] = read()
        if selector:
            return selector
    fault = event_log(configuration).first(EventKind.FAULT_AT)
    recorded = fault.detail.get("selector") if fault else None
    if not isinstance(recorded, dict) or not recorded:
        raise ActivityFailed("cannot tell which pods the API Service must select: no Deployment selector")
    return {str(key): str(value) for key, value in recorded.items()}


@changes_target
def fix_5_select_the_deployments_pods(
    target: str | None = None,
    timeout: float = 60.0,
    only_if_broken: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Fix 5 (proposed; the runbook has no fix for Triage 2D): put the API Service's selector back to
    the Deployment's pod labels and wait (at most ``timeout`` s) until it has a ready endpoint again.

    The game day records that the runbook had no fix (finding ``no-fix-for-2d``, with the commands and
    the time measured), which earns the proposal of a "Fix 5: Network/Ingress Issues" section.
    With ``only_if_broken`` (rollbacks) nothing is done while the fault's selector is gone."""

    def select(platform: Platform) -> None:
        selector = _pods_selector(platform, configuration)
        started = time.monotonic()
        platform.set_api_service_selector(selector)
        deadline = started + timeout
        while platform.network().ready_endpoints == 0:
            if time.monotonic() >= deadline:
                raise ActivityFailed(
                    f"offgridflow-api-service has no ready endpoint {timeout:g} s after its selector "
                    "was set back"
                )
            time.sleep(0.5)
        took = time.monotonic() - started
        shown = label_selector(selector)
        event_log(configuration).record(
            EventKind.FINDING,
            id=FindingId.NO_FIX_FOR_2D,
            text=f"the runbook has no fix for Triage 2D: the suite set offgridflow-api-service's selector "
            f"back to the Deployment's pod labels ({shown}); a ready endpoint was back {took:.1f} s later",
            selector=selector,
            took_s=round(took, 1),
        )

    describe = "Fix 5 (proposed): offgridflow-api-service selects the Deployment's pods again"
    return _apply_fix(target, configuration, only_if_broken, lambda _: describe, select, timeout)


@changes_target
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
    fault = event_log(configuration).first(EventKind.FAULT_AT)
    if fault is None or "key" not in fault.detail:
        if only_if_broken:
            return _ALREADY_HEALTHY
        raise ActivityFailed("no bad-config fault in this run: there is no value to restore")
    key, previous = str(fault.detail["key"]), fault.detail.get("previous")
    with opened(chosen) as platform:
        if only_if_broken and not _fault_still_present(chosen, configuration, platform):
            return _ALREADY_HEALTHY
        if previous is None and is_secret_key(key):
            raise ActivityFailed(
                f"{key} comes from a Secret and its value was not recorded; re-apply offgridflow-secrets"
            )
        if previous is None:
            raise ActivityFailed(
                f"{key} had no value before the fault; remove it by hand from offgridflow-config"
            )
        progress(configuration, "fix", f"restore offgridflow-config {key}={previous}, rollout restart")
        event_log(configuration).record(
            "note", text=f"restored offgridflow-config {key}={previous} and restarted the API"
        )
        platform.update_config({key: str(previous)})
        return platform.wait_rollout(rollout_timeout).message
