"""Run one experiment with the ``chaos`` CLI in a subprocess, showing progress from its event log.

A subprocess (rather than chaoslib in-process) keeps each experiment's background threads and
signal handling separate, and lets a test interrupt an experiment the way a user would (SIGINT),
which Chaos Toolkit answers by running the rollbacks.

Two promises hold whatever the parent is:

- one target: the target is resolved here (file and overrides), written to ``target.json`` in the
  run's directory and handed to the child with its fingerprint (``$OFFGRIDFLOW_RESOLVED_TARGET``,
  ``$OFFGRIDFLOW_TARGET_FINGERPRINT``); every activity there reads that file and refuses when the
  fingerprint differs (``chaos._context.resolve_target``);
- a halt that cannot be lost: the child starts with SIGINT answered by Python's KeyboardInterrupt
  even when this process ignores SIGINT (``nohup``, ``&`` in a script: an ignored signal is inherited
  across exec), so :meth:`RunningExperiment.interrupt` always stops the method and runs the rollbacks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offgridflow_runbook.gameday.events import GAMEDAY_DIR_ENV, EventKind, EventLog, GamedayEvent
from offgridflow_runbook.targets import (
    DEFAULT_TARGETS_FILE,
    RESOLVED_TARGET_ENV,
    TARGET_FINGERPRINT_ENV,
    Target,
    load_target,
    write_resolved_target,
)

__all__ = ["INTERRUPT_GRACE_S", "TERMINATE_GRACE_S", "RunningExperiment", "start_experiment"]

# After the deadline's SIGINT the rollbacks run (a fix, its rollout, Verification): up to 5 minutes.
INTERRUPT_GRACE_S = 300.0
# After SIGTERM (chaoslib interrupts at once, still running the rollbacks): before SIGKILL.
TERMINATE_GRACE_S = 30.0
# The child: Python's own SIGINT handler (KeyboardInterrupt) whatever disposition it inherited, then
# the chaos CLI as `python -m chaostoolkit` runs it. Python installs that handler at start-up only when
# SIGINT is not ignored, so it is set here explicitly, before chaostoolkit is imported.
_CHILD = (
    "import runpy, signal; "
    "signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('chaostoolkit', run_name='__main__', alter_sys=True)"
)


@dataclass
class RunningExperiment:
    mode: str
    experiment: Path
    journal_path: Path
    log_path: Path
    events: EventLog
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.time)
    _shown: int = 0

    def progress_lines(self) -> list[str]:
        """Progress lines (experiment, phase, elapsed) not yet returned."""
        phases = [e for e in self.events.read() if e.kind == EventKind.PHASE]
        fresh, self._shown = phases[self._shown :], len(phases)
        return [self._line(event) for event in fresh]

    def _line(self, event: GamedayEvent) -> str:
        elapsed = event.at - self.started
        return f"[gameday] {self.mode:<10} {event.detail.get('phase', ''):<9} +{elapsed:6.1f}s  " + str(
            event.detail.get("message", "")
        )

    def wait(
        self,
        timeout: float,
        on_progress: Callable[[str], None] | None = None,
        *,
        interrupt_grace: float = INTERRUPT_GRACE_S,
    ) -> int:
        """Wait (at most ``timeout`` s) for the run to end, reporting progress; the exit status.

        On the deadline the run is interrupted like a user would (SIGINT, so the rollbacks run) and
        given ``interrupt_grace`` seconds for them (progress still reported); then SIGTERM (chaoslib
        stops at once, still attempting the rollbacks) and ``TERMINATE_GRACE_S``; then SIGKILL."""
        self._until(time.monotonic() + timeout, on_progress)
        for stop, grace in (
            (self.interrupt, interrupt_grace),
            (self.process.terminate, TERMINATE_GRACE_S),
            (self.process.kill, TERMINATE_GRACE_S),
        ):
            if self.process.poll() is not None:
                break
            stop()
            self._until(time.monotonic() + grace, on_progress)
        self._report(on_progress)
        return int(self.process.wait(TERMINATE_GRACE_S))

    def _until(self, deadline: float, on_progress: Callable[[str], None] | None) -> None:
        while self.process.poll() is None and time.monotonic() < deadline:
            self._report(on_progress)
            time.sleep(0.25)

    def _report(self, on_progress: Callable[[str], None] | None) -> None:
        if on_progress is not None:
            for line in self.progress_lines():
                on_progress(line)

    def interrupt(self) -> None:
        """Ctrl-C: Chaos Toolkit stops the method and runs the rollbacks."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def journal(self) -> dict[str, Any] | None:
        try:
            document = json.loads(self.journal_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    @property
    def experiment_document(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.experiment.read_text(encoding="utf-8"))
        return document


def start_experiment(
    experiment: Path,
    *,
    target: Target | str,
    gameday_dir: Path,
    targets_file: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> RunningExperiment:
    """Start ``chaos run --rollback-strategy always --var target=<name> <experiment>`` on ``target``:
    the resolved target (overrides applied), or a profile name read from ``targets_file`` here.
    TargetError when a name cannot be resolved."""
    if isinstance(target, str):
        target = load_target(target, targets_file or DEFAULT_TARGETS_FILE)
    document = json.loads(experiment.read_text(encoding="utf-8"))
    mode = str(document.get("configuration", {}).get("mode") or experiment.stem)
    events = EventLog(gameday_dir, mode)
    events.reset()
    run_dir = events.path.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    journal_path, log_path = run_dir / "journal.json", run_dir / "chaostoolkit.log"
    journal_path.unlink(missing_ok=True)
    resolved = run_dir / "target.json"
    fingerprint = write_resolved_target(target, resolved)
    environment = (
        dict(os.environ)
        | {GAMEDAY_DIR_ENV: str(gameday_dir)}
        | (extra_env or {})
        | {RESOLVED_TARGET_ENV: str(resolved.resolve()), TARGET_FINGERPRINT_ENV: fingerprint}
    )
    if targets_file is not None:
        environment["OFFGRIDFLOW_TARGETS"] = str(targets_file)
    command = [
        sys.executable,
        "-c",
        _CHILD,
        "--no-version-check",
        "--log-file",
        str(log_path),
        "run",
        "--rollback-strategy",
        "always",
        "--var",
        f"target={target.name}",
        "--journal-path",
        str(journal_path),
        str(experiment),
    ]
    with (run_dir / "chaos-output.txt").open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)
    return RunningExperiment(mode, experiment, journal_path, log_path, events, process)
