"""A fixed-rate schedule that never overlaps two runs.

Runs start every ``interval`` seconds of a monotonic clock, counted from the first. A run that takes
longer than the interval is not joined by the next one: the next starts when it ends (late, and
counted as delayed), and the schedule goes on from there, so a slow target never piles up runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Schedule"]


@dataclass
class Schedule:
    """Call ``run`` every ``interval`` seconds until ``wait`` says to stop.

    ``wait(seconds)`` sleeps up to ``seconds`` and answers True when the schedule must stop
    (``threading.Event.wait``); ``clock`` is monotonic. Both are parameters so that a test can
    measure the schedule with a fake clock."""

    interval: float
    run: Callable[[], object]
    wait: Callable[[float], bool]
    clock: Callable[[], float] = time.monotonic
    on_delayed: Callable[[], object] = lambda: None
    runs: int = 0
    delayed: int = 0

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise ValueError(f"the interval must be positive, not {self.interval}")

    def loop(self, max_runs: int | None = None) -> int:
        """Run until stopped (or ``max_runs`` runs); returns the number of runs."""
        next_at = self.clock()
        while max_runs is None or self.runs < max_runs:
            self.run()
            self.runs += 1
            next_at += self.interval
            now = self.clock()
            if now > next_at:
                # the run outlasted its slot: start the next one now rather than beside it
                self.delayed += 1
                self.on_delayed()
                next_at = now
            if max_runs is not None and self.runs >= max_runs:
                break
            if self.wait(max(0.0, next_at - now)):
                break
        return self.runs
