"""The monitor as a long-running service: the schedule, the state, the HTTP server and the log.

One JSON line per run goes to the log (stderr): the result and, when it failed, each failing step
with its reason, so the reason is in the log while the metrics stay label-free of it.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from offgridflow_runbook.monitor.checks import Look, RunResult, look_for_monitor, run_checks
from offgridflow_runbook.monitor.metrics import MonitorState
from offgridflow_runbook.monitor.schedule import Schedule
from offgridflow_runbook.monitor.server import MetricsServer
from offgridflow_runbook.reporting import Redactor
from offgridflow_runbook.targets import Target

__all__ = ["Monitor", "log_to_stderr"]

# /healthz fails when a run has been going for this many intervals (a hung read: let it be restarted)
STALE_INTERVALS = 5


def log_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Monitor:
    """Run the read-only checks against ``target`` every ``interval`` seconds."""

    target: Target
    interval: float
    look_at: Look = look_for_monitor
    log: Callable[[str], None] = log_to_stderr
    clock: Callable[[], float] = time.monotonic
    state: MonitorState = field(init=False)
    _running_since: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.state = MonitorState(self.target.name, self.interval)
        self.redact = Redactor([self.target.token])

    def event(self, name: str, **fields: object) -> None:
        """One JSON log line (the token redacted)."""
        self.log(self.redact(json.dumps({"event": name, "target": self.target.name, **fields})))

    def run_once(self) -> RunResult:
        """One run, recorded in the state and logged."""
        self._running_since = self.clock()
        try:
            result = run_checks(self.target, self.look_at)
        finally:
            self._running_since = None
        self.state.record(result)
        self.event(
            "run",
            success=result.success,
            duration_s=round(result.duration_s, 3),
            failed={step.step: step.message for step in result.steps if not step.success},
        )
        return result

    def healthy(self) -> tuple[bool, str]:
        """Sound unless a run has been going for :data:`STALE_INTERVALS` intervals."""
        since = self._running_since
        if since is not None and self.clock() - since > STALE_INTERVALS * self.interval:
            return False, f"a run has been going for {self.clock() - since:.0f}s"
        return True, "ok"

    def serve(self, listen: tuple[str, int], stop: threading.Event, *, max_runs: int | None = None) -> int:
        """Serve the metrics on ``listen`` and run until ``stop`` is set; returns the number of runs."""
        server = MetricsServer(listen, self.state, self.healthy).start()
        self.event("listening", url=server.url, interval_s=self.interval)
        schedule = Schedule(
            self.interval, self.run_once, stop.wait, clock=self.clock, on_delayed=self._delayed
        )
        try:
            return schedule.loop(max_runs)
        finally:
            server.close()
            self.event("stopped", runs=schedule.runs)

    def _delayed(self) -> None:
        self.state.delayed()
        self.event("delayed", interval_s=self.interval)
