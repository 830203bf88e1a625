"""Detection: the failure shows (a platform signal, an alert firing, a page delivered) and triage names the
runbook's fix."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from offgridflow_runbook.chaos._context import (
    event_log,
    healed_by_itself,
    opened,
    progress,
    ready_now,
    resolve_target,
    wait_until,
)
from offgridflow_runbook.gameday.alerts import alert_timing
from offgridflow_runbook.gameday.events import EventKind
from offgridflow_runbook.gameday.findings import FindingId
from offgridflow_runbook.gameday.pages import first_page, read_pages
from offgridflow_runbook.gameday.verdicts import VerdictRecorder
from offgridflow_runbook.platforms import Platform, Workload, label_selector
from offgridflow_runbook.probes.http import ApiProbe, ProbeError
from offgridflow_runbook.probes.prometheus import PrometheusProbe
from offgridflow_runbook.runbook.evidence import (
    CONFIG_ERROR_MARKER,
    config_error_lines,
    crashed,
    image_pull_failing,
    oom_killed,
    pull_failure_event,
)
from offgridflow_runbook.runbook.triage import diagnose

__all__ = [
    "database_heals_by_itself",
    "diagnosis_names",
    "wait_for_alert",
    "wait_for_crash_loop_with_config_error",
    "wait_for_database_unreachable",
    "wait_for_image_pull_failure",
    "wait_for_oom_killed",
    "wait_for_page",
    "wait_for_service_selecting_no_pod",
]


def _since_fault(configuration: Configuration) -> float:
    fault = event_log(configuration).first(EventKind.FAULT_AT)
    # a little slack: container timestamps are whole seconds on some engines
    return (fault.at if fault else time.time()) - 2.0


def _ended_after(workload: Workload, since: float) -> bool:
    ended = workload.last_termination
    if ended is None:
        return False
    if ended.finished_at is None:
        return True
    finished = ended.finished_at if ended.finished_at.tzinfo else ended.finished_at.replace(tzinfo=UTC)
    return finished.timestamp() >= since


def _detected(configuration: Configuration, signal: str, **detail: Any) -> None:
    event_log(configuration).record(EventKind.DETECTED_AT, signal=signal, **detail)
    progress(configuration, "detected", signal)


# What a detection saw, and when the platform says it happened (None when it does not say).
Signal = tuple[str, datetime | None]


def _shown(workload: Workload) -> datetime | None:
    return workload.last_termination.finished_at if workload.last_termination else None


def oom_signal(platform: Platform, since: float) -> Signal | None:
    """An API instance whose last run ended ``OOMKilled`` with exit code 137 at or after ``since``."""
    for workload in platform.api_workloads():
        ended = workload.last_termination
        if oom_killed(workload) and ended and ended.exit_code == 137 and _ended_after(workload, since):
            return f"{workload.name} OOMKilled, exit code 137 (restarts: {workload.restart_count})", _shown(
                workload
            )
    return None


def image_pull_signal(platform: Platform, since: float) -> Signal | None:
    """An API instance waiting in an image-pull reason, or a "Failed to pull image" event since ``since``."""
    for workload in platform.api_workloads():
        if image_pull_failing(workload):
            return (
                f"{workload.name} {workload.waiting_reason}: {workload.waiting_message or ''}".strip(),
                None,
            )
    for event in platform.events(since=datetime.fromtimestamp(since, UTC)):
        if pull_failure_event(event):
            return f"event {event.reason}: {event.message}", event.at
    return None


def config_crash_signal(platform: Platform, since: float) -> Signal | None:
    """An API instance that crashed since ``since`` with ``invalid configuration`` in its previous logs."""
    # a crash since the fault: waiting to restart now, or a termination that ended after it
    recent = [
        w
        for w in platform.api_workloads()
        if crashed(w) and (w.waiting_reason == "CrashLoopBackOff" or _ended_after(w, since))
    ]
    if not recent:
        return None
    lines = config_error_lines(platform.api_logs(tail=50, previous=True))
    return (f"crash loop; {lines[0]}", _shown(recent[0])) if lines else None


def service_selection_signal(platform: Platform, since: float) -> Signal | None:
    """API instances ready, yet the API Service selects none of them and has no ready endpoint."""
    ready = [w.name for w in platform.api_workloads() if w.ready]
    network = platform.network()
    if not ready or network.ready_endpoints or network.selected_pods != 0:
        return None
    selector = label_selector(network.service_selector or ())
    return (
        f"offgridflow-api-service selects {selector or 'nothing'}: 0 API instances, no ready endpoint, "
        f"while {len(ready)} are ready",
        None,
    )


def _detect_on_platform(
    target: str | None,
    configuration: Configuration,
    deadline: float,
    what: str,
    signal_of: Callable[[Platform, float], Signal | None],
) -> bool:
    chosen = resolve_target(target, configuration)
    since = _since_fault(configuration)
    progress(configuration, "detect", f"waiting up to {deadline:g} s for {what}")
    with opened(chosen) as platform:
        signal, shown_at = wait_until(lambda: signal_of(platform, since), deadline=deadline, what=what)
    _detected(configuration, signal, shown_at=shown_at.timestamp() if shown_at else None)
    return True


def wait_for_oom_killed(
    target: str | None = None,
    deadline: float = 60.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """An API instance was OOM-killed by the kernel (last termination ``OOMKilled``, exit code 137)
    after the fault started."""
    return _detect_on_platform(
        target, configuration, deadline, "an OOMKilled (exit 137) API instance", oom_signal
    )


def wait_for_image_pull_failure(
    target: str | None = None,
    deadline: float = 60.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """An API instance cannot pull its image (``ErrImagePull``/``ImagePullBackOff``, or a
    "Failed to pull image" event since the fault)."""
    return _detect_on_platform(target, configuration, deadline, "an image pull failure", image_pull_signal)


def wait_for_crash_loop_with_config_error(
    target: str | None = None,
    deadline: float = 60.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """An API instance crashed after the fault and its previous run logged ``invalid configuration``."""
    what = f"a crash loop with {CONFIG_ERROR_MARKER!r} in the previous logs"
    return _detect_on_platform(target, configuration, deadline, what, config_crash_signal)


def wait_for_service_selecting_no_pod(
    target: str | None = None,
    deadline: float = 30.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """The API's instances are ready, yet its Service selects none of them (no ready endpoint)."""
    what = "offgridflow-api-service selecting no ready API instance"
    return _detect_on_platform(target, configuration, deadline, what, service_selection_signal)


def wait_for_database_unreachable(
    target: str | None = None,
    deadline: float = 30.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """``GET /health/ready`` stops answering ``healthy`` (or answering at all in time) because the
    database does not answer."""
    chosen = resolve_target(target, configuration)
    progress(configuration, "detect", f"waiting up to {deadline:g} s for /health/ready to turn unhealthy")
    with ApiProbe(chosen, timeout=2.0) as api:

        def unhealthy() -> str | None:
            try:
                answer = api.ready()
            except ProbeError as error:
                # no answer in time is not healthy either: kubelet's readiness probe fails it the same
                # way (seen on kind while postgres was in CrashLoopBackOff)
                return f"/health/ready did not answer: {error}"
            body = answer.json()
            if answer.status != 200 or not isinstance(body, dict) or body.get("status") != "healthy":
                return f"/health/ready HTTP {answer.status}: {answer.text[:160]}"
            return None

        signal = wait_until(unhealthy, deadline=deadline, what="/health/ready unhealthy")
    _detected(configuration, signal)
    return True


def database_heals_by_itself(
    platforms: str = "kubernetes",
    target: str | None = None,
    deadline: float = 30.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """On the named platforms (comma-separated): wait up to ``deadline`` s for the database to be
    ready again and the API to answer ``/health/ready`` healthy, with no fix applied.

    A StatefulSet recreates a deleted postgres pod within seconds, often before any alert can fire;
    when that happens it is recorded (``self_healed_at`` and a finding naming the time and the
    alert's floor), and the triage, page and fix activities after it step aside: there is nothing
    left for on-call to do. On other platforms (Docker keeps a killed container down) it answers
    False at once. It never fails the experiment: a database that stays down is the normal path."""
    chosen = resolve_target(target, configuration)
    if chosen.platform not in {name.strip() for name in platforms.split(",")}:
        return False
    log = event_log(configuration)
    fault = log.first(EventKind.FAULT_AT)
    if fault is None:
        raise ActivityFailed("no fault was applied in this run; nothing to heal")
    progress(
        configuration, "heal", f"watching up to {deadline:g} s whether the database comes back by itself"
    )
    with opened(chosen) as platform, ApiProbe(chosen, timeout=2.0) as api:

        def back() -> bool | None:
            databases = platform.database_workloads()
            if not databases or not all(w.ready for w in databases):
                return None
            return True if ready_now(api) else None

        try:
            wait_until(back, deadline=deadline, what="the database back by itself")
        except ActivityFailed:
            return False
    healed = time.time()
    log.record(EventKind.SELF_HEALED_AT, after_s=round(healed - fault.at, 1))
    floor = (
        _alert_floor_s(chosen.prometheus_url, "PostgreSQLDown", "firing") if chosen.prometheus_url else 0.0
    )
    log.record(
        "finding",
        text=f"the database came back by itself {healed - fault.at:.1f} s after the fault "
        f"({chosen.platform}: its controller replaced it) with no runbook step"
        + (f", before PostgreSQLDown could fire (floor {floor:.0f} s)" if floor else "")
        + ": on-call is not paged and Fix 1 is not needed for this fault here; db-crash-loop runs the "
        "database outage that stays down",
    )
    progress(configuration, "healed", f"database back by itself after {healed - fault.at:.1f} s")
    return True


_ALERT_MARGIN_S = 15.0


def _alert_floor_s(prometheus_url: str, name: str, wanted: str) -> float:
    """How long this Prometheus needs at best to move ``name`` to ``wanted`` (0 when unreadable)."""
    try:
        timing = alert_timing(prometheus_url)
    except ProbeError:
        return 0.0
    if wanted == "inactive":
        return 2 * timing.scrape_interval_s + timing.evaluation_interval_s
    return timing.floor_s(name) + timing.scrape_interval_s


def wait_for_alert(
    name: str,
    state: str = "firing",
    target: str | None = None,
    deadline: float = 90.0,
    required: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """The Prometheus alert ``name`` reaches ``state``: ``pending``, ``firing``, or ``inactive``
    (resolved).

    The deadline is at least what this Prometheus needs (scrape + evaluation interval, plus the
    rule's ``for`` when waiting for ``firing``, with a margin), so the same experiment works with the
    fast profile and with production timings. When the deadline passes this is recorded as a
    finding (the runbook's alert stayed silent); the activity fails only if ``required``, otherwise
    it answers False."""
    chosen = resolve_target(target, configuration)
    if not chosen.prometheus_url:
        raise ActivityFailed(f"target {chosen.name!r} has no prometheus_url; cannot watch {name}")
    wanted = "inactive" if state in ("resolved", "inactive") else state
    if wanted != "inactive" and healed_by_itself(configuration):
        progress(configuration, "alert", f"not waiting for {name}: the fault healed by itself")
        return False
    deadline = max(deadline, _alert_floor_s(chosen.prometheus_url, name, wanted) + _ALERT_MARGIN_S)
    progress(configuration, "alert", f"waiting up to {deadline:g} s for {name} to be {wanted}")
    with PrometheusProbe(chosen.prometheus_url, target=chosen.name) as prometheus:

        def reached() -> bool | None:
            return True if prometheus.alert_state(name)[0] == wanted else None

        try:
            wait_until(reached, deadline=deadline, what=f"alert {name} {wanted}")
        except ActivityFailed:
            event_log(configuration).record(
                "finding", text=f"alert {name} was not {wanted} within {deadline:g} s"
            )
            if required:
                raise
            return False
    event_log(configuration).record(EventKind.NOTE, text=f"alert {name} {wanted}", alert=name, state=wanted)
    if wanted == "firing":
        _detected(configuration, f"alert {name} firing", alert=name)
    else:
        progress(configuration, "alert", f"{name} {wanted}")
    return True


def wait_for_page(
    names: str,
    target: str | None = None,
    deadline: float = 60.0,
    required: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """A page for one of ``names`` (comma-separated alerts) caused by this run's fault reached the
    receiver (the target's ``alert_receiver_url``): what the on-call engineer acts on.

    The deadline is at least the first alert's floor with a margin (as for :func:`wait_for_alert`).
    A receiver that cannot be read is never a page: the activity fails naming why. Without a page
    by the deadline the activity fails if ``required`` (else it answers False; the scorecard still
    holds every platform's must-fire alerts to their page)."""
    chosen = resolve_target(target, configuration)
    wanted = tuple(name.strip() for name in names.split(",") if name.strip())
    if not wanted:
        raise ActivityFailed("wait_for_page needs at least one alert name")
    if healed_by_itself(configuration):
        progress(
            configuration, "page", f"not waiting for a page ({', '.join(wanted)}): the fault healed by itself"
        )
        return False
    log = event_log(configuration)
    fault = log.first(EventKind.FAULT_AT)
    if fault is None:
        raise ActivityFailed("no fault was applied in this run; there is no page to wait for")
    floor = _alert_floor_s(chosen.prometheus_url, wanted[0], "firing") if chosen.prometheus_url else 0.0
    if floor > 0:
        deadline = max(deadline, floor + _ALERT_MARGIN_S)
    progress(configuration, "page", f"waiting up to {deadline:g} s for a page: {', '.join(wanted)}")
    unknown: list[str] = []

    def delivered() -> tuple[str, str, float] | None:
        seen = read_pages(chosen.alert_receiver_url, since=fault.at - 2.0)
        if seen.unknown is not None:
            unknown[:] = [seen.unknown]
            return None
        page = first_page(seen.pages, fault.at, wanted)
        return (page.alert, page.receiver, page.delivered_at) if page is not None else None

    try:
        alert, receiver, at = wait_until(delivered, deadline=deadline, what=f"a page for {', '.join(wanted)}")
    except ActivityFailed as error:
        reason = f" (the receiver could not be read: {unknown[0]})" if unknown else ""
        log.record(
            EventKind.FINDING,
            id=FindingId.NO_PAGE_IN_TIME,
            text=f"no page for {', '.join(wanted)} within {deadline:g} s{reason}",
        )
        if unknown or required:
            raise ActivityFailed(f"{error}{reason}") from None
        return False
    log.record(
        "note", text=f"page {alert} delivered to {receiver}", alert=alert, receiver=receiver, paged_at=at
    )
    progress(configuration, "paged", f"{alert} -> {receiver} {at - fault.at:.1f} s after the fault")
    return True


def diagnosis_names(
    section: str,
    target: str | None = None,
    deadline: float = 30.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """The runbook's triage (``offgridflow-runbook diagnose``) names ``section`` first, e.g. ``Fix 2``.

    Triage here sees exactly what ``diagnose`` run by hand sees (no filter on events); every verdict
    it gives on the way is recorded with its time."""
    chosen = resolve_target(target, configuration)
    if healed_by_itself(configuration):
        progress(configuration, "diagnose", f"not triaging for {section}: the fault healed by itself")
        return True
    progress(configuration, "diagnose", f"waiting up to {deadline:g} s for triage to name {section}")
    log = event_log(configuration)
    recorder = VerdictRecorder(log, "probe")
    seen: list[str] = []
    with opened(chosen) as platform:

        def named() -> bool | None:
            diagnosis = diagnose(chosen, platform)
            recorder.record(diagnosis)
            seen[:] = [f"{diagnosis.section} ({diagnosis.summary})"]
            if diagnosis.section != section:
                return None
            log.record(
                "diagnosis", cause=str(diagnosis.cause), section=diagnosis.section, summary=diagnosis.summary
            )
            return True

        try:
            wait_until(named, deadline=deadline, what=f"a diagnosis naming {section}")
        except ActivityFailed as error:
            log.record(EventKind.DIAGNOSIS, cause="other", section=seen[0] if seen else "none")
            raise ActivityFailed(f"{error}; triage said: {seen[0] if seen else 'nothing'}") from None
    progress(configuration, "diagnosed", f"triage names {section}")
    return True
