"""Every verdict triage gives from the fault to the fix, with its time.

An on-call engineer who runs ``offgridflow-runbook diagnose`` right after the page may see a wrong or
an inconclusive verdict before the right one. The game day therefore runs the same ``diagnose`` -
the same look, no filter on events - from the moment the fault is applied until the fix starts,
and records each verdict that differs from the one before as a ``verdict`` event. The scorecard
reads them: first verdict, time to the right one, the wrong ones seen.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping
from typing import Any

from offgridflow_runbook.gameday.events import EventLog
from offgridflow_runbook.gameday.verdicts import VerdictRecorder
from offgridflow_runbook.platforms import Platform, PlatformError
from offgridflow_runbook.probes.http import ProbeError
from offgridflow_runbook.runbook.triage import diagnose
from offgridflow_runbook.targets import Target

__all__ = ["VerdictWatch", "start_watch", "stop_watch"]

WATCH_INTERVAL_S = 2.0
WATCH_MAX_S = 600.0  # bounded: a fix never started within 10 minutes ends the watch anyway

_watches: dict[str, VerdictWatch] = {}
_watches_lock = threading.Lock()


class VerdictWatch:
    """A daemon thread running ``diagnose`` every ``interval`` s until stopped or ``max_seconds``."""

    def __init__(
        self,
        target: Target,
        log: EventLog,
        *,
        interval: float = WATCH_INTERVAL_S,
        max_seconds: float = WATCH_MAX_S,
        platform: Platform | None = None,
    ) -> None:
        self.target = target
        self.recorder = VerdictRecorder(log, "watch")
        self.interval = interval
        self.max_seconds = max_seconds
        self._platform = platform
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"verdicts-{log.mode}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < end:
            # diagnose turns what it cannot read into unknowns; an error left over is not a verdict
            with contextlib.suppress(PlatformError, ProbeError):
                self.recorder.record(diagnose(self.target, self._platform))
            self._stop.wait(self.interval)


def start_watch(target: Target, configuration: Mapping[str, Any] | None) -> VerdictWatch | None:
    """Start watching verdicts for this experiment (any watch still running is stopped first: one
    experiment runs at a time). The configuration's ``watch_verdicts: false`` turns it off (the
    extension's unit tests, which must not read a real target)."""
    if str((configuration or {}).get("watch_verdicts", "true")).lower() in ("false", "0", "no"):
        return None
    log = EventLog.for_configuration(configuration)
    watch = VerdictWatch(target, log)
    with _watches_lock:
        running = list(_watches.values())
        _watches.clear()
        _watches[log.mode] = watch
    for previous in running:
        previous.stop()
    watch.start()
    return watch


def stop_watch(configuration: Mapping[str, Any] | None) -> None:
    """Stop this experiment's watch (when its fix starts); nothing happens when none runs."""
    mode = EventLog.for_configuration(configuration).mode
    with _watches_lock:
        watch = _watches.pop(mode, None)
    if watch is not None:
        watch.stop()
