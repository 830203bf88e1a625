"""Proof that the fix held: no acknowledged write lost, load survived, a bad value not back."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from offgridflow_runbook.chaos._context import (
    event_log,
    guard,
    opened,
    progress,
    resolve_target,
)
from offgridflow_runbook.chaos._ledger import acked_recorder, before_fault, writer_undo
from offgridflow_runbook.chaos._writer import BackgroundWriter
from offgridflow_runbook.chaos.registry import changes_target, loads_target
from offgridflow_runbook.gameday.events import EventKind
from offgridflow_runbook.platforms import Platform
from offgridflow_runbook.probes.http import ApiProbe, HttpResult, ProbeError
from offgridflow_runbook.targets import Target

__all__ = [
    "bad_config_outlives_the_undo",
    "memory_load_survives",
    "no_acked_write_lost",
    "start_background_writer",
    "stop_background_writer",
]


_writers: dict[str, BackgroundWriter] = {}


_writers_lock = threading.Lock()


# -- the background writer ---------------------------------------------------------------------------
@changes_target
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
    mode = event_log(configuration).mode
    # the fault ledger: the acknowledged ids outlive this process, so restore can prove none is lost
    entry = before_fault(chosen, configuration, "background writer", writer_undo())
    writer = BackgroundWriter(
        chosen,
        max_writes=max_writes,
        max_seconds=max_seconds,
        interval=interval,
        source=f"gameday-{mode}",
        on_ack=acked_recorder(entry),
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


@changes_target
def stop_background_writer(
    target: str | None = None,
    missing_ok: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, int]:
    """Stop the background writer and record the acknowledged ids for :func:`no_acked_write_lost`
    (``missing_ok`` for rollbacks, where the method may already have stopped it)."""
    mode = event_log(configuration).mode
    with _writers_lock:
        writer = _writers.pop(mode, None)
    if writer is None:
        if missing_ok:
            return {"acked": 0, "failed": 0, "attempts": 0}
        raise ActivityFailed("no background writer is running (start_background_writer first)")
    result = writer.stop()
    event_log(configuration).record(
        "writes", acked=result.acked_ids, failed=result.failed, attempts=result.attempts
    )
    progress(
        configuration, "writes", f"writer stopped: {len(result.acked_ids)} acked, {result.failed} refused"
    )
    return {"acked": len(result.acked_ids), "failed": result.failed, "attempts": result.attempts}


def _restart_total(platform: Platform) -> int:
    return sum(workload.restart_count for workload in platform.api_workloads())


def _post_assault(target: Target, mib: int, hold_seconds: float) -> HttpResult | None:
    with ApiProbe(target, timeout=60.0) as api:
        try:
            return api.memory_assault(mib, hold_seconds)
        except ProbeError:
            return None


@loads_target
def memory_load_survives(
    mib: int = 700,
    hold_seconds: float = 5.0,
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """The same memory assault no longer kills the API: it answers 200 and no instance restarts
    while the memory is held (run after Fix 2)."""
    chosen = resolve_target(target, configuration)
    progress(configuration, "prove", f"the same load again: {mib} MiB held {hold_seconds:g} s")
    with opened(chosen) as platform:
        restarts_before = _restart_total(platform)
        answer = _post_assault(chosen, mib, hold_seconds)
        if answer is None or answer.status != 200:
            what = "no answer" if answer is None else f"HTTP {answer.status}: {answer.text[:160]}"
            raise ActivityFailed(f"memory assault of {mib} MiB after Fix 2: {what}")
        time.sleep(
            hold_seconds + 1.0
        )  # the load is held for a fixed time; this is not a wait for a condition
        restarts_after = _restart_total(platform)
    if restarts_after != restarts_before:
        raise ActivityFailed(
            f"the API restarted under {mib} MiB after Fix 2 (restarts {restarts_before} -> {restarts_after})"
        )
    event_log(configuration).record(
        EventKind.NOTE, text=f"{mib} MiB held {hold_seconds:g} s without a restart"
    )
    return True


def no_acked_write_lost(
    target: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> bool:
    """Every write the API acknowledged during the experiment can be read back (``GET
    /v1/activities/{id}``); records the acknowledged and lost counts."""
    chosen = resolve_target(target, configuration)
    log = event_log(configuration)
    stopped = [event for event in log.read() if event.kind == EventKind.WRITES]
    if not stopped:
        raise ActivityFailed("no background writer ran in this experiment (start_background_writer first)")
    acked = [int(item) for item in stopped[-1].detail.get("acked", [])]
    lost: list[int] = []
    with ApiProbe(chosen, timeout=5.0) as api:
        for activity_id in acked:
            url = f"{chosen.base_url.rstrip('/')}/v1/activities/{activity_id}"
            try:
                answer = api.get(url, authorized=True)
            except ProbeError as error:
                raise ActivityFailed(f"cannot read back acknowledged write {activity_id}: {error}") from None
            if answer.status != 200:
                lost.append(activity_id)
    log.record(EventKind.LOST_WRITES, acked=len(acked), lost=lost)
    progress(configuration, "writes", f"{len(acked)} acknowledged writes, {len(lost)} lost")
    if lost:
        raise ActivityFailed(f"{len(lost)} of {len(acked)} acknowledged writes are missing: {lost[:20]}")
    return True


def bad_config_outlives_the_undo(
    target: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """After Fix 3's ``rollout undo`` with ``offgridflow-config`` edited in place: the ConfigMap still
    holds the fault's bad value, and the API serves only from pods that started before the edit.

    Recorded as a finding with the runbook change it implies: the undo looked like a fix, and the
    next pod to start (a restart, an eviction, a scale-up) crashes again. Fails the activity when the
    undo did restore the value (then the in-place scheme did not behave as this experiment claims)."""
    chosen = resolve_target(target, configuration)
    log = event_log(configuration)
    fault = log.first(EventKind.FAULT_AT)
    if fault is None or "key" not in fault.detail:
        raise ActivityFailed("no bad-config fault in this run")
    key, bad = str(fault.detail["key"]), str(fault.detail.get("fault", "")).partition("=")[2]
    with opened(chosen) as platform:
        now = platform.config().get(key)
        if now != bad:
            raise ActivityFailed(
                f"after the undo offgridflow-config holds {key}={now!r}, not the fault's {bad!r}"
            )
        serving = [w for w in platform.api_workloads() if w.ready]
        started = datetime.fromtimestamp(fault.at, UTC)
        older = [w.name for w in serving if w.started_at is not None and w.started_at < started]
    log.record(
        "finding",
        text=f"Fix 3's `kubectl rollout undo` looked like a fix but offgridflow-config, edited in place, "
        f"still holds {key}={bad}: the API serves from {len(older)} of {len(serving)} ready pods started "
        "before the edit, and the next pod to start crashes again. Suggested runbook change for Fix 3: "
        "restore the ConfigMap from version control (`kubectl apply -f`), then `kubectl rollout restart "
        "deployment/offgridflow-api`; or generate it with a content hash so every change is a new revision.",
        serving=[w.name for w in serving],
        started_before_the_edit=older,
    )
    progress(configuration, "finding", f"the bad {key} outlived the undo (in-place ConfigMap)")
    return True
