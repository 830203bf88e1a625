"""One run of the monitor: one look at the target, judged by the runbook's read-only steps.

The steps are the runbook's own judgements (:mod:`offgridflow_runbook.runbook.steps`): Triage 1 and
:data:`~offgridflow_runbook.runbook.verification.VERIFICATION_STEPS`. Several judgements may belong to
one runbook step (Verification 5 is the error rate and the alerts); the monitor reports per runbook
step, failed when any of its judgements failed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any, cast

from offgridflow_runbook.probes.snapshot import Observations, Observed, look
from offgridflow_runbook.runbook.steps import Outcome, StepResult, triage_1_live, triage_1_pods
from offgridflow_runbook.runbook.verification import VERIFICATION_STEPS
from offgridflow_runbook.targets import Target

__all__ = [
    "MONITOR_STEPS",
    "Look",
    "RunResult",
    "StepVerdict",
    "judge",
    "look_for_monitor",
    "monitor_reads",
    "run_checks",
]

Judgement = Callable[[Observations], StepResult]
Look = Callable[[Target], Observations]

# Triage 1 then Verification 1-5: every step of the runbook that only reads.
MONITOR_STEPS: tuple[Judgement, ...] = (triage_1_live, triage_1_pods, *VERIFICATION_STEPS)


@dataclass(frozen=True)
class StepVerdict:
    """One runbook step in one run: success unless a judgement of it failed."""

    step: str  # "Triage 1", "Verification 3"
    success: bool
    skipped: bool  # every judgement of the step was skipped (the target lacks that access)
    duration_s: float  # the slowest read the step's judgements looked at
    message: str  # the failing judgements' messages, else the first judgement's


@dataclass(frozen=True)
class RunResult:
    """One run: when it started (Unix time), how long it took, and each step's verdict."""

    target: str
    started_at: float
    duration_s: float
    steps: tuple[StepVerdict, ...]

    @property
    def success(self) -> bool:
        return all(step.success for step in self.steps)

    @property
    def reason(self) -> str:
        """Why the run failed, in one line (empty when it passed)."""
        return "; ".join(f"{step.step}: {step.message}" for step in self.steps if not step.success)


class _ReadsSeen:
    """Observations that note which reads a judgement looks at, and the slowest of them."""

    def __init__(self, observations: Observations) -> None:
        self._observations = observations
        self.seconds = 0.0
        self.names: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._observations, name)
        if isinstance(value, Observed):
            self.names.add(name)
            self.seconds = max(self.seconds, value.seconds)
        return value


def judge(
    observations: Observations, judgements: tuple[Judgement, ...] = MONITOR_STEPS
) -> tuple[StepVerdict, ...]:
    """Each runbook step's verdict over one look, in the order of ``judgements``."""
    grouped: dict[str, list[tuple[StepResult, float]]] = {}
    for judgement in judgements:
        seen = _ReadsSeen(observations)
        result = judgement(cast(Observations, seen))
        grouped.setdefault(result.step, []).append((result, seen.seconds))
    verdicts = []
    for step, results in grouped.items():
        failed = [result for result, _ in results if result.failed]
        shown = failed or [results[0][0]]
        verdicts.append(
            StepVerdict(
                step=step,
                success=not failed,
                skipped=all(result.outcome is Outcome.SKIPPED for result, _ in results),
                duration_s=max(seconds for _, seconds in results),
                message="; ".join(f"{result.title}: {result.message}" for result in shown),
            )
        )
    return tuple(verdicts)


def _unobserved(target: Target, read: Observed[Any]) -> Observations:
    """A look in which every read came out as ``read``."""
    reads: dict[str, Any] = {
        item.name: read
        for item in fields(Observations)
        if item.name != "target" and item.default is MISSING and item.default_factory is MISSING
    }
    return Observations(target=target, **reads)


@functools.cache
def monitor_reads(judgements: tuple[Judgement, ...] = MONITOR_STEPS) -> frozenset[str]:
    """The reads the judgements look at (fields of Observations), found by judging a look in which
    none was made: the monitor's look makes only these (no exec, no resource usage, no logs)."""
    nothing = _unobserved(
        Target(name="-", platform="none", base_url="http://127.0.0.1"), Observed(skipped="-")
    )
    names: set[str] = set()
    for judgement in judgements:
        seen = _ReadsSeen(nothing)
        judgement(cast(Observations, seen))
        names |= seen.names
    return frozenset(names)


def look_for_monitor(target: Target) -> Observations:
    """The one look at ``target`` with only the reads the monitor's steps judge."""
    return look(target, only=monitor_reads())


def run_checks(
    target: Target, look_at: Look = look_for_monitor, *, clock: Callable[[], float] = time.time
) -> RunResult:
    """Look at ``target`` once (read-only) and judge it; never raises for what the target does."""
    started_at = clock()
    started = time.perf_counter()
    try:
        observations = look_at(target)
    except Exception as error:  # a monitor reports what went wrong and lives on
        observations = _unobserved(target, Observed(error=error))
    steps = judge(observations)
    return RunResult(target.name, started_at, time.perf_counter() - started, steps)
