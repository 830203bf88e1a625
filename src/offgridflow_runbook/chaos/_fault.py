"""The fault prologue, one context manager: resolve the target, guard it, open its platform (on
first use), and mark the fault (``fault_at``, the verdict watch, the fault ledger's entry).

Private to ``chaos/``: the faults in :mod:`.faults` and their set-ups use it. The guard here is the
one every registered activity already ran (``chaos.registry``; a no-op inside such a call, the
refusal itself when an activity is called directly), so nothing is weakened when a body forgets it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from offgridflow_runbook.chaos._context import event_log, guard, opened, resolve_target
from offgridflow_runbook.chaos._ledger import before_fault
from offgridflow_runbook.chaos._verdicts import start_watch
from offgridflow_runbook.gameday.events import EventKind
from offgridflow_runbook.ledger import Undo
from offgridflow_runbook.platforms import Platform
from offgridflow_runbook.targets import Target

__all__ = ["FaultScene", "fault_scene"]


@dataclass
class FaultScene:
    """One fault activity's target, configuration and platform."""

    target: Target
    configuration: Mapping[str, Any] | None
    _stack: contextlib.ExitStack[bool | None]
    _platform: Platform | None = None

    @property
    def platform(self) -> Platform:
        """The target's platform, opened on first use and closed when the activity ends (a platform
        or probe error inside the activity is then its ActivityFailed)."""
        if self._platform is None:
            self._platform = self._stack.enter_context(opened(self.target))
        return self._platform

    def mark(self, fault: str, *undo: Undo, entry: str | None = None, **detail: Any) -> None:
        """The fault starts now: record ``fault_at`` (``fault`` and ``detail``), start the verdict
        watch, and write the fault ledger's entry (``entry``, else ``fault``, with its ``undo``
        steps) durably. The change may go ahead only after this returns: a ledger that cannot be
        written stops the fault (ActivityFailed)."""
        event_log(self.configuration).record(EventKind.FAULT_AT, fault=fault, **detail)
        start_watch(self.target, self.configuration)
        before_fault(self.target, self.configuration, entry or fault, *undo)


@contextlib.contextmanager
def fault_scene(target: str | None, configuration: Mapping[str, Any] | None) -> Iterator[FaultScene]:
    """Resolve and guard ``target`` (refused: ActivityFailed, nothing opened), then the scene."""
    chosen = resolve_target(target, configuration)
    guard(chosen)
    with contextlib.ExitStack() as stack:
        yield FaultScene(chosen, configuration, stack)
