"""The runbook's Verification section (steps 1-5) as one function, used as the steady state of the
chaos experiments and by ``offgridflow-runbook``; the pytest checks judge with the same steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from offgridflow_runbook.platforms import PlatformReads
from offgridflow_runbook.probes.http import ApiProbe, ProbeError
from offgridflow_runbook.probes.snapshot import Observations, look
from offgridflow_runbook.runbook.steps import (
    Outcome,
    StepResult,
    verification_1_pods,
    verification_2_ready,
    verification_3_activities,
    verification_4_metrics,
    verification_5_alerts,
    verification_5_error_rate,
)
from offgridflow_runbook.targets import Target

__all__ = ["VERIFICATION_STEPS", "VerificationReport", "verification_3_write", "verify"]

VERIFICATION_STEPS: tuple[Callable[[Observations], StepResult], ...] = (
    verification_1_pods,
    verification_2_ready,
    verification_3_activities,
    verification_4_metrics,
    verification_5_error_rate,
    verification_5_alerts,
)


@dataclass(frozen=True)
class VerificationReport:
    """Verification 1-5 for one target at one moment."""

    target: str
    at: datetime
    steps: tuple[StepResult, ...]
    observations: Observations

    @property
    def passed(self) -> bool:
        """No step failed (skipped steps, which the target lacks access for, do not count)."""
        return not any(step.failed for step in self.steps)

    @property
    def failures(self) -> tuple[StepResult, ...]:
        return tuple(step for step in self.steps if step.failed)

    def summary(self) -> str:
        """One line per step: ``Verification 2 passed: ...``."""
        return "\n".join(f"{s.step} {s.outcome}: {s.title}: {s.message}" for s in self.steps)


def verify(target: Target, platform: PlatformReads | None = None) -> VerificationReport:
    """Run Verification 1-5 against ``target`` (read-only)."""
    observations = look(target, platform)
    steps = tuple(step(observations) for step in VERIFICATION_STEPS)
    return VerificationReport(
        target=target.name, at=datetime.now(UTC), steps=steps, observations=observations
    )


def verification_3_write(api: ApiProbe, *, source: str = "offgridflow-runbook-check") -> StepResult:
    """The write path: ``POST /v1/activities`` answers 201 with an id (only on targets allowing writes)."""
    title = "POST /v1/activities (write path)"
    if not api.target.allow_writes:
        return StepResult(
            "Verification 3", title, Outcome.SKIPPED, f"target {api.target.name!r} does not allow writes"
        )
    if api.target.token is None:
        return StepResult(
            "Verification 3", title, Outcome.SKIPPED, f"no bearer token: ${api.target.token_env} is not set"
        )
    payload = {"source": source, "quantity": 1.0, "unit": "kWh", "occurred_at": datetime.now(UTC).isoformat()}
    try:
        answer = api.post_activity(payload)
    except ProbeError as error:
        return StepResult("Verification 3", title, Outcome.FAILED, str(error))
    body = answer.json()
    if answer.status != 201 or not isinstance(body, dict) or "id" not in body:
        return StepResult(
            "Verification 3",
            title,
            Outcome.FAILED,
            f"POST {answer.url} answered HTTP {answer.status}: {answer.text[:200]}",
        )
    return StepResult("Verification 3", title, Outcome.PASSED, f"POST {answer.url}: 201, id {body['id']}")
