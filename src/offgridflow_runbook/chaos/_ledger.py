"""The fault ledger as the faults write it: one call right before each change.

Private to ``chaos/``: the phase modules call :func:`before_fault` with the undo steps of their
change (built here from what the platform shows now), and the background writer appends every
acknowledged id next to its entry. The ledger itself is :mod:`offgridflow_runbook.ledger`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chaoslib.exceptions import ActivityFailed

from offgridflow_runbook.chaos._context import event_log, opened
from offgridflow_runbook.ledger import Entry, Ledger, Undo, UndoAction, config_undo
from offgridflow_runbook.targets import Target

__all__ = [
    "acked_recorder",
    "before_fault",
    "config_undo",
    "database_undo",
    "image_undo",
    "in_place_config_undo",
    "oom_undo",
    "selector_undo",
    "writer_undo",
]


def before_fault(target: Target, configuration: Mapping[str, Any] | None, fault: str, *undo: Undo) -> Entry:
    """Write the ledger entry for ``fault`` durably; the change may go ahead only after this returns.
    A ledger that cannot be written stops the fault (ActivityFailed), it never goes ahead unrecorded."""
    log = event_log(configuration)
    ledger = Ledger()
    try:
        return ledger.open(target, mode=log.mode, fault=fault, undo=undo, events=str(log.path.resolve()))
    except OSError as error:
        raise ActivityFailed(
            f"cannot write the fault ledger in {ledger.directory} ({error}); the fault was not applied"
        ) from None


def image_undo(image_now: str) -> Undo:
    """Put the API's image back to what it is now."""
    return Undo(UndoAction.SET_IMAGE, {"image": image_now})


def database_undo() -> tuple[Undo, ...]:
    """After a killed or crash-looping database: start it, then restart an API left not ready."""
    return (Undo(UndoAction.START_DATABASE), Undo(UndoAction.RESTART_API))


def in_place_config_undo() -> Undo:
    """After the in-place ConfigMap set-up: the hashed ConfigMap scheme again."""
    return Undo(UndoAction.USE_HASHED_CONFIG)


def oom_undo(target: Target) -> tuple[Undo, ...]:
    """After an OOM kill nothing persistent changed: the API restarts by itself (restart policy)
    and the memory is freed. What Verification needs back is the memory limit/request the fault
    was sized for (a run killed during Fix 2's rollout may have left them half-changed) and an API
    that runs (restarted when an instance is not ready, e.g. in Docker's restart back-off)."""
    with opened(target) as platform:
        latest = platform.rollout_history()[-1:]
    steps: list[Undo] = []
    if latest and latest[0].memory_limit and latest[0].memory_request:
        steps.append(
            Undo(
                UndoAction.PATCH_MEMORY,
                {"limit": latest[0].memory_limit, "request": latest[0].memory_request},
            )
        )
    return (*steps, Undo(UndoAction.RESTART_API))


def selector_undo(selector: Mapping[str, str]) -> Undo:
    """Put the API Service's selector back to what it is now."""
    return Undo(UndoAction.SELECT, {"selector": dict(selector)})


def writer_undo() -> Undo:
    """A background writer's writes are not undone: restore proves every acknowledged one is there."""
    return Undo(UndoAction.CHECK_WRITES)


def acked_recorder(entry: Entry) -> Callable[[int], None]:
    """A callback appending each acknowledged id to the entry's ``.acked`` file (one line each, a
    single ``write``: a killed process loses none that reached the kernel)."""
    path = Ledger.acked_path(entry)

    def record(activity_id: int) -> None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"{activity_id}\n")

    return record
