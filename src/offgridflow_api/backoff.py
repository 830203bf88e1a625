"""Exponential backoff with jitter for reconnecting to the database (a runbook prevention item)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delay before retry number `attempt` (0-based): doubles from `base` up to `cap`, jittered.

    "Equal jitter": half the delay is fixed and half random, so replicas that lost the database at the
    same moment do not retry in lock-step, and no retry comes sooner than half the nominal delay.
    """

    base_seconds: float = 0.25
    cap_seconds: float = 5.0

    def delay(self, attempt: int) -> float:
        nominal = min(self.cap_seconds, self.base_seconds * 2.0 ** min(attempt, 32))
        return nominal / 2 + random.uniform(0, nominal / 2)
