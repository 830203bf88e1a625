"""Run one experiment with the ``chaos`` CLI in a subprocess, showing progress from its event log.

A subprocess (rather than chaoslib in-process) keeps each experiment's background threads and
signal handling separate, and lets a test interrupt an experiment the way a user would (SIGINT),
which Chaos Toolkit answers by running the rollbacks.
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

__all__ = ["RunningExperiment", "start_experiment"]


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

    def wait(self, timeout: float, on_progress: Callable[[str], None] | None = None) -> int:
        """Wait (at most ``timeout`` s) for the run to end, reporting progress; the exit status.

        On the deadline the run is interrupted like a user would (SIGINT, so the rollbacks run) and
        given another minute before it is killed."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._report(on_progress)
            time.sleep(0.25)
        if self.process.poll() is None:
            self.interrupt()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._report(on_progress)
        return int(self.process.returncode)

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
    target: str,
    gameday_dir: Path,
    targets_file: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> RunningExperiment:
    """Start ``chaos run --rollback-strategy always --var target=<target> <experiment>``."""
    document = json.loads(experiment.read_text(encoding="utf-8"))
    mode = str(document.get("configuration", {}).get("mode") or experiment.stem)
    events = EventLog(gameday_dir, mode)
    events.reset()
    run_dir = events.path.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    journal_path, log_path = run_dir / "journal.json", run_dir / "chaostoolkit.log"
    journal_path.unlink(missing_ok=True)
    environment = dict(os.environ) | {GAMEDAY_DIR_ENV: str(gameday_dir)} | (extra_env or {})
    if targets_file is not None:
        environment["OFFGRIDFLOW_TARGETS"] = str(targets_file)
    command = [
        sys.executable,
        "-m",
        "chaostoolkit",
        "--no-version-check",
        "--log-file",
        str(log_path),
        "run",
        "--rollback-strategy",
        "always",
        "--var",
        f"target={target}",
        "--journal-path",
        str(journal_path),
        str(experiment),
    ]
    with (run_dir / "chaos-output.txt").open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)
    return RunningExperiment(mode, experiment, journal_path, log_path, events, process)
