"""The runbook's triage tree as code: from one look at a target to a cause, its evidence, and the
runbook section (with its commands rendered for the target) that fixes it.

Decision order (the first that matches wins), from the most specific signal to the most generic:

1. image pull failure (``ErrImagePull``/``ImagePullBackOff``, "Failed to pull image") -> Fix 4
2. OOMKilled as the last termination (or an OOMKilled event) -> Fix 2
3. crash loop with ``invalid configuration`` in the previous container's logs -> Fix 3
4. database not answering (``pg_isready`` fails, or ``/health/ready`` names the database) -> Fix 1
5. any other crash loop / Error state -> Quick Fix
6. memory or CPU use near the limit -> Fix 2
7. no Ingress / no ready endpoints / published ports silent -> Triage 2D (the runbook has no Fix)
8. the API does not answer at all and nothing above explains it -> unreachable (Triage 1)
9. something else is unhealthy -> unknown (Triage 1); otherwise healthy.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from offgridflow_runbook.platforms import Event, Platform, Workload
from offgridflow_runbook.probes.http import ProbeError
from offgridflow_runbook.probes.platform import PlatformAccess, open_platform
from offgridflow_runbook.probes.snapshot import Observations
from offgridflow_runbook.runbook_commands import render_commands
from offgridflow_runbook.steps import (
    crash_looping,
    describe_workload,
    readiness_problem,
    triage_1_live,
    triage_2b_database,
    triage_2c_resources,
    triage_2d_network,
    verification_1_pods,
)
from offgridflow_runbook.targets import Target
from offgridflow_runbook.verification import look

__all__ = ["CONFIG_ERROR_MARKER", "Cause", "Diagnosis", "decide", "diagnose", "relevant_events"]

CONFIG_ERROR_MARKER = "invalid configuration"
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


class Cause(StrEnum):
    HEALTHY = "healthy"
    IMAGE_PULL = "image_pull"
    OOM = "oom"
    CONFIG_ERROR = "config_error"
    DATABASE = "database"
    CRASH_LOOP = "crash_loop"
    RESOURCES = "resources"
    NETWORK = "network"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"


EXIT_CODES = {Cause.HEALTHY: 0, Cause.UNREACHABLE: 3}


@dataclass(frozen=True)
class Diagnosis:
    """What triage concluded: the cause, why, and what to do (the runbook section and its commands)."""

    cause: Cause
    section: str  # "none", "Quick Fix", "Fix 1".."Fix 4", "Triage 1", "Triage 2D"
    summary: str
    evidence: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 healthy, 3 unreachable, 2 any problem diagnosed."""
        return EXIT_CODES.get(self.cause, 2)

    def as_dict(self) -> dict[str, object]:
        return {
            "cause": str(self.cause),
            "section": self.section,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "commands": list(self.commands),
            "exit_code": self.exit_code,
        }


EVENT_WINDOW = timedelta(hours=1)  # Kubernetes keeps events for an hour; older ones are history


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def relevant_events(
    events: list[Event], workloads: list[Workload], now: datetime | None = None
) -> list[Event]:
    """Events since the oldest running API instance started (and within the last hour): an image
    pull failure or OOM kill that a later, successful start already followed is history, not a cause."""
    since = _aware(now or datetime.now(UTC)) - EVENT_WINDOW
    starts = [_aware(w.started_at) for w in workloads if w.started_at is not None]
    if starts:
        since = max(since, min(starts))
    return [e for e in events if _aware(e.at) >= since]


def _crashed(workload: Workload) -> bool:
    return crash_looping(workload) or workload.phase == "Failed" or workload.waiting_reason == "Error"


def _termination(workload: Workload) -> str:
    ended = workload.last_termination
    return f"{ended.reason} (exit code {ended.exit_code})" if ended else workload.waiting_reason or "unknown"


def decide(
    observations: Observations,
    *,
    previous_logs: dict[str, str] | None = None,
    events: list[Event] | None = None,
) -> Diagnosis:
    """The triage tree over what was observed (pure: no I/O), see the module docstring."""
    target = observations.target
    previous_logs = previous_logs or {}
    workloads = observations.api_workloads.value or []
    events = relevant_events(events or [], workloads)
    image = workloads[0].image if workloads else None

    def found(cause: Cause, section: str, summary: str, evidence: list[str]) -> Diagnosis:
        return Diagnosis(cause, section, summary, evidence, render_commands(section, target, image=image))

    # 1. image pull failure
    pulling = [w for w in workloads if w.waiting_reason in IMAGE_PULL_REASONS]
    # A pull failure of a pod (or stalled Docker revision) that is gone was undone by a rollout: the
    # namespace keeps its events for an hour, but it is history.
    current = {w.name for w in workloads}
    pull_events = [
        e
        for e in events
        if ("failed to pull image" in e.message.lower() or e.reason in IMAGE_PULL_REASONS)
        and (not current or e.involved in current)
    ]
    if pulling or pull_events:
        evidence = [describe_workload(w) for w in pulling] + [
            f"event {e.reason}: {e.message}" for e in pull_events
        ]
        what = pulling[0].image if pulling else "the API image"
        return found(Cause.IMAGE_PULL, "Fix 4", f"image pull failure: {what} cannot be pulled", evidence)

    # 2. OOM kill
    oom = [w for w in workloads if w.last_termination is not None and w.last_termination.oom_killed]
    oom_events = [e for e in events if "oomkill" in (e.reason + " " + e.message).lower()]
    if oom or oom_events:
        evidence = [describe_workload(w) for w in oom] + [
            f"event {e.reason}: {e.message}" for e in oom_events
        ]
        return found(Cause.OOM, "Fix 2", "OOM kill: the API exceeded its memory limit (exit 137)", evidence)

    crashed = [w for w in workloads if _crashed(w)]
    crash_evidence = [describe_workload(w) for w in crashed]

    # 3. configuration error in the previous run's logs
    config_lines = [
        f"previous logs of {name}: {line.strip()}"
        for name, text in previous_logs.items()
        for line in text.splitlines()
        if CONFIG_ERROR_MARKER in line
    ]
    if config_lines and (crashed or not observations.live.ok):
        return found(
            Cause.CONFIG_ERROR,
            "Fix 3",
            "configuration error: the API exits at start with 'invalid configuration'",
            crash_evidence + config_lines[:5],
        )

    # No API instance at all: whatever else is down, nothing runs to be fixed (never deployed, scaled
    # to zero, or the local stack is not up); the database branch would misname it Fix 1.
    if observations.api_workloads.ok and not workloads and isinstance(observations.live.error, ProbeError):
        live = triage_1_live(observations)
        where = "containers (is the local stack up? make up)" if target.platform == "docker" else "pods"
        return found(
            Cause.UNREACHABLE, "Triage 1", f"unreachable: {live.message}", [live.message, f"no API {where}"]
        )

    # 4. database
    database = triage_2b_database(observations)
    ready_problem = readiness_problem(observations)
    db_evidence = []
    if database.failed:
        db_evidence.append(database.message)
    if ready_problem and observations.ready.ok and "database" in ready_problem.lower():
        db_evidence.append(ready_problem)
    if db_evidence:
        db_pods = [describe_workload(w) for w in observations.database_workloads.value or []]
        return found(
            Cause.DATABASE,
            "Fix 1",
            "database failure: the database does not answer the API",
            db_evidence + db_pods,
        )

    # 5. crash loop for another reason
    if crashed:
        reasons = ", ".join(f"{w.name}: {_termination(w)}" for w in crashed)
        last_lines = [
            f"previous logs of {name}: {text.strip().splitlines()[-1]}"
            for name, text in previous_logs.items()
            if text.strip()
        ]
        return found(Cause.CRASH_LOOP, "Quick Fix", f"crash loop: {reasons}", crash_evidence + last_lines)

    # 6. resources near the limit
    resources = triage_2c_resources(observations)
    if resources.failed and ("memory at" in resources.message or "CPU at" in resources.message):
        return found(
            Cause.RESOURCES, "Fix 2", f"resource exhaustion: {resources.message}", list(resources.evidence)
        )

    # 7. network / ingress
    running = bool(workloads) and all(w.phase == "Running" for w in workloads)
    network = triage_2d_network(observations)
    if network.failed and (running or observations.target.platform == "kubernetes"):
        return found(
            Cause.NETWORK, "Triage 2D", f"network/ingress: {network.message}", list(network.evidence)
        )

    # 8. nothing answers
    live = triage_1_live(observations)
    if isinstance(observations.live.error, ProbeError):
        evidence = [live.message, *(describe_workload(w) for w in workloads)]
        if observations.platform_reason:
            evidence.append(f"platform: {observations.platform_reason}")
        return found(Cause.UNREACHABLE, "Triage 1", f"unreachable: {live.message}", evidence)

    # 9. unhealthy without a runbook branch, or healthy
    pods = verification_1_pods(observations)
    problems = [step.message for step in (live, pods) if step.failed]
    if ready_problem:
        problems.append(ready_problem)
    if problems:
        return found(Cause.UNKNOWN, "Triage 1", "unhealthy: " + "; ".join(problems), problems)
    evidence = [live.message, *(describe_workload(w) for w in workloads)]
    if observations.platform_reason:
        evidence.append(f"platform checks skipped: {observations.platform_reason}")
    return Diagnosis(Cause.HEALTHY, "none", "healthy: the API answers and is ready", evidence, [])


def _platform_history(platform: Platform) -> tuple[dict[str, str], list[Event]]:
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="triage") as pool:
        logs = pool.submit(platform.api_logs, tail=100, previous=True)
        events = pool.submit(platform.events)
        try:
            previous = logs.result()
        except Exception:  # the evidence is best effort: a platform without previous logs still triages
            previous = {}
        try:
            recent = events.result()
        except Exception:
            recent = []
    return previous, recent


def diagnose(target: Target, platform: Platform | None = None) -> Diagnosis:
    """Walk Triage 1 -> 2A-2D on ``target`` (read-only). Without ``platform`` the target's own is
    opened; a target without platform access is diagnosed from HTTP alone."""
    access = open_platform(target) if platform is None else PlatformAccess(platform)
    try:
        observations = look(target, access.platform, platform_reason=access.reason)
        previous: dict[str, str] = {}
        events: list[Event] = []
        if access.platform is not None:
            previous, events = _platform_history(access.platform)
        return decide(observations, previous_logs=previous, events=events)
    finally:
        if platform is None:
            access.close()
