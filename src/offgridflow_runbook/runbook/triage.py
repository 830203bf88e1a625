"""The runbook's triage tree as code: from one look at a target to every candidate cause, ranked, with
its evidence and the runbook section (its commands rendered for the target) that fixes it.

The decision table (:data:`DECISION_TABLE`, shown in docs/triage.md) maps each signal a bad reading
shows to a cause and a runbook section; its order is the order the runbook says to act in. Readings
come from :mod:`offgridflow_runbook.runbook.evidence`: seen bad, seen fine, or unknown with the reason.

Outcomes (and ``diagnose``'s exit status):

- ``diagnosed`` (2): at least one candidate; the first is what to do first. A candidate the runbook
  has no section for (``not covered``) names what was seen and says so, never a Fix that would not help.
- ``unreachable`` (3): the API does not answer and nothing the runbook fixes explains it.
- ``inconclusive`` (4): nothing seen bad, but something the target declares could not be read
  (named with the reason). "Could not see" is never "healthy" and never a cause.
- ``healthy`` (0): nothing seen bad and every source the target declares was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum

from offgridflow_runbook.platforms import PlatformReads
from offgridflow_runbook.probes.platform import PlatformAccess, open_platform
from offgridflow_runbook.probes.snapshot import Observations, look
from offgridflow_runbook.runbook.commands import render_commands
from offgridflow_runbook.runbook.evidence import (
    CONFIG_ERROR_MARKER,
    DEFAULT_SINCE,
    IMAGE_PULL_REASONS,
    Reading,
    Seen,
    Signal,
    read_everything,
)
from offgridflow_runbook.targets import Target

__all__ = [
    "CONFIG_ERROR_MARKER",
    "DECISION_TABLE",
    "EXIT_CODES",
    "IMAGE_PULL_REASONS",
    "NOT_COVERED",
    "Candidate",
    "Cause",
    "Diagnosis",
    "Outcome",
    "Rule",
    "decide",
    "decision_table_markdown",
    "diagnose",
    "look_for_triage",
]


class Cause(StrEnum):
    HEALTHY = "healthy"
    IMAGE_PULL = "image_pull"
    OOM = "oom"
    CONFIG_ERROR = "config_error"
    DATABASE = "database"
    CRASH_LOOP = "crash_loop"
    RESOURCES = "resources"
    NETWORK = "network"
    DATABASE_PATH = "database_path"
    ROLLOUT_BLOCKED = "rollout_blocked"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"
    INCONCLUSIVE = "inconclusive"


class Outcome(StrEnum):
    HEALTHY = "healthy"
    DIAGNOSED = "diagnosed"
    UNREACHABLE = "unreachable"
    INCONCLUSIVE = "inconclusive"


EXIT_CODES = {Outcome.HEALTHY: 0, Outcome.DIAGNOSED: 2, Outcome.UNREACHABLE: 3, Outcome.INCONCLUSIVE: 4}


@dataclass(frozen=True)
class Rule:
    """One row of the decision table: a signal, what shows it, and the runbook section that fixes it."""

    signal: Signal
    cause: Cause
    section: str
    title: str
    shows: str
    # signals that, when also present, explain this one (it is then a consequence, not a candidate)
    explained_by: tuple[Signal, ...] = ()
    # sources that could show a more specific cause: when one is unknown, the candidate is tentative
    tentative_without: tuple[str, ...] = ()


# The section of a cause the runbook has no section for: the verdict names what was seen and says so.
NOT_COVERED = "not covered"

# What a verdict says when the runbook has nothing that fixes what it names (never a Fix that would
# not help): the engineer reads that the runbook stops here.
_NO_FIX = {
    NOT_COVERED: "the runbook has no section for this",
    "Triage 1": "no Fix of the runbook covers this: Triage 1's commands look further",
}

_SPECIFIC = (
    Signal.DATABASE_PATH,
    Signal.DATABASE_DOWN,
    Signal.OOM_KILLED,
    Signal.CONFIG_ERROR,
    Signal.IMAGE_PULL,
)

# In the order the runbook says to act: nothing can be fixed before an API exists, nor while the
# Deployment cannot create pods (every Fix rolls out new ones); a database seen
# ready that the API cannot reach comes before Fix 1, which it rules out (restarting a database that
# runs would not help); then the Fixes in the runbook's order (1-4); the Quick Fix only for a crash
# no Fix explains (restarting a pod that a Fix explains just crashes again); then Triage 2D and
# Triage 1, which have no Fix.
DECISION_TABLE: tuple[Rule, ...] = (
    Rule(
        Signal.NO_API_INSTANCE,
        Cause.UNREACHABLE,
        "Triage 1",
        "no API instance",
        "no pod/container with app=offgridflow-api at all and the API does not answer over HTTP, with "
        "why (the Deployment scaled to 0, no pod matching its selector, no Deployment, stack not up); "
        "when the API answers, the missing pods are an unknown of the platform view instead",
    ),
    Rule(
        Signal.ROLLOUT_BLOCKED,
        Cause.ROLLOUT_BLOCKED,
        NOT_COVERED,
        "rollout blocked",
        "the Deployment's rollout is not complete and a ReplicaSet of it cannot create pods (a "
        "FailedCreate event within --since, or else the Deployment's ReplicaFailure condition: a "
        "ResourceQuota, an admission webhook, PodSecurity), which no Fix covers: each of them needs a "
        "new pod too (remove or raise what refuses it)",
    ),
    Rule(
        Signal.DATABASE_PATH,
        Cause.DATABASE_PATH,
        NOT_COVERED,
        "database seen ready, but the API cannot reach it",
        "every postgres pod running and ready, yet pg_isready from the API's pod gets `no response` "
        "(exit 2): the Service, its endpoints, DNS or a NetworkPolicy between them, which no Fix "
        "covers (Fix 1's restart of a running database would not help)",
    ),
    Rule(
        Signal.DATABASE_DOWN,
        Cause.DATABASE,
        "Fix 1",
        "database failure",
        "no postgres pod or none ready; pg_isready answers `no response`/`rejecting connections` "
        "(exit 2/1); /health/ready or the API's latest log line names the database",
        explained_by=(Signal.DATABASE_PATH,),
    ),
    Rule(
        Signal.OOM_KILLED,
        Cause.OOM,
        "Fix 2",
        "OOM kill",
        "an API instance's last termination is OOMKilled (exit 137); an OOMKilled event of a current "
        "instance within --since",
    ),
    Rule(
        Signal.NEAR_LIMIT,
        Cause.RESOURCES,
        "Fix 2",
        "resource exhaustion",
        "memory or CPU use at or above 90% of the limit (kubectl top / the container's cgroup)",
        explained_by=(Signal.OOM_KILLED,),
    ),
    Rule(
        Signal.CONFIG_ERROR,
        Cause.CONFIG_ERROR,
        "Fix 3",
        "configuration error",
        f"an API instance crashed and its previous logs say `{CONFIG_ERROR_MARKER}`; an API instance "
        "waiting in CreateContainerConfigError (a ConfigMap or Secret, or a key of one, it names is "
        "missing: the kubelet's message says which)",
    ),
    Rule(
        Signal.IMAGE_PULL,
        Cause.IMAGE_PULL,
        "Fix 4",
        "image pull failure",
        "an API instance waiting in ErrImagePull/ImagePullBackOff/InvalidImageName (the registry's "
        "answer); a `Failed to pull image` event of a current instance within --since",
    ),
    Rule(
        Signal.CRASH_LOOP,
        Cause.CRASH_LOOP,
        "Quick Fix",
        "crash loop",
        "an API instance in CrashLoopBackOff/Error, Failed, or restarted, that no Fix above explains",
        explained_by=_SPECIFIC,
        tentative_without=("previous logs", "events", "database pods", "pg_isready"),
    ),
    Rule(
        Signal.NETWORK,
        Cause.NETWORK,
        "Triage 2D",
        "network/ingress",
        "no Ingress (Kubernetes); no ready endpoints of offgridflow-api-service, on Docker its routing "
        "proxy (unless every API pod is not ready: that is the pods' readiness, not 2D); a Service "
        "selector that matches no API pod; the URL refusing while every API pod is ready behind ready "
        "endpoints (a wrong port or targetPort)",
        explained_by=(*_SPECIFIC, Signal.CRASH_LOOP, Signal.NO_API_INSTANCE),
    ),
    Rule(
        Signal.API_NOT_ANSWERING,
        Cause.UNREACHABLE,
        "Triage 1",
        "API not answering",
        "/health/live refused or timed out (a hung process times out) and nothing above explains it",
        explained_by=(*_SPECIFIC, Signal.CRASH_LOOP, Signal.NO_API_INSTANCE, Signal.NETWORK),
        tentative_without=("API pods", "ingress and endpoints", "database pods", "pg_isready"),
    ),
    Rule(
        Signal.UNHEALTHY,
        Cause.UNKNOWN,
        "Triage 1",
        "unhealthy",
        "/health/live or /health/ready not healthy, or an instance not ready (and the Service's endpoints "
        "with it), for a reason the runbook has no branch for",
        explained_by=tuple(s for s in Signal if s is not Signal.UNHEALTHY),
    ),
)
_RULES_BY_CAUSE = {rule.cause: rule for rule in reversed(DECISION_TABLE)}  # the first rule of a cause


@dataclass(frozen=True)
class Candidate:
    """One candidate cause: its runbook section, the readings that show it, and the commands."""

    cause: Cause
    section: str
    summary: str
    evidence: tuple[Reading, ...]
    commands: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "cause": str(self.cause),
            "section": self.section,
            "summary": self.summary,
            "evidence": [reading.detail for reading in self.evidence],
            "commands": list(self.commands),
        }


@dataclass(frozen=True)
class Diagnosis:
    """What triage concluded: every candidate (first: what to do first), everything it read (seen bad,
    seen fine, unknown with the reason) and the outcome."""

    cause: Cause
    section: str  # "none", "Quick Fix", "Fix 1".."Fix 4", "Triage 1", "Triage 2D", "not covered"
    summary: str
    evidence: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    outcome: Outcome = Outcome.DIAGNOSED

    @property
    def exit_code(self) -> int:
        """0 healthy, 2 problem diagnosed, 3 unreachable, 4 inconclusive."""
        return EXIT_CODES[self.outcome]

    @property
    def unknowns(self) -> list[Reading]:
        return [reading for reading in self.readings if reading.seen is Seen.UNKNOWN]

    @property
    def sections(self) -> list[str]:
        """The candidates' sections, first what to do first."""
        return [candidate.section for candidate in self.candidates]

    def as_dict(self) -> dict[str, object]:
        return {
            "outcome": str(self.outcome),
            "cause": str(self.cause),
            "section": self.section,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "commands": list(self.commands),
            "candidates": [candidate.as_dict() for candidate in self.candidates],
            "unknown": [f"{r.source}: {r.detail}" for r in self.unknowns],
            "readings": [
                {"source": r.source, "seen": str(r.seen), "detail": r.detail} for r in self.readings
            ],
            "exit_code": self.exit_code,
        }


def decision_table_markdown() -> str:
    """The decision table as the Markdown table docs/triage.md shows (a test keeps them equal)."""
    lines = ["| rank | signal | shown by | cause | runbook section |", "|---|---|---|---|---|"]
    for rank, rule in enumerate(DECISION_TABLE, start=1):
        lines.append(f"| {rank} | `{rule.signal}` | {rule.shows} | `{rule.cause}` | {rule.section} |")
    return "\n".join(lines)


def _unknown_summary(unknowns: list[Reading]) -> str:
    by_reason: dict[str, list[str]] = {}
    for reading in unknowns:
        by_reason.setdefault(reading.detail, []).append(reading.source)
    return "; ".join(
        f"{', '.join(dict.fromkeys(sources))} ({reason})" for reason, sources in by_reason.items()
    )


def decide(observations: Observations, *, since: timedelta = DEFAULT_SINCE) -> Diagnosis:
    """The triage over one look (pure: no I/O), see the module docstring."""
    target = observations.target
    readings = read_everything(observations, since)
    workloads = observations.api_workloads.value or []
    image = next((w.image for w in workloads if w.image), None)
    bad = [r for r in readings if r.seen is Seen.BAD and r.signal is not None]
    present = {r.signal for r in bad}

    unknown_sources = {r.source for r in readings if r.seen is Seen.UNKNOWN}
    candidates: list[Candidate] = []
    explained: list[tuple[Rule, tuple[Reading, ...]]] = []
    for rule in DECISION_TABLE:
        if rule.signal not in present:
            continue
        shown = tuple(r for r in bad if r.signal is rule.signal)
        if present.intersection(rule.explained_by):
            explained.append((rule, shown))  # a consequence: its readings back the cause that explains it
            continue
        commands = tuple(render_commands(rule.section, target, image=image))
        summary = f"{rule.title}: {shown[0].detail}"
        if rule.section in _NO_FIX:
            summary += f"; {_NO_FIX[rule.section]}"
        unseen = [source for source in rule.tentative_without if source in unknown_sources]
        if unseen:
            summary = f"tentative, could not see {', '.join(unseen)}: {summary}"
        candidates.append(Candidate(rule.cause, rule.section, summary, shown, commands))
    for rule, shown in explained:
        for index, candidate in enumerate(candidates):
            if _RULES_BY_CAUSE[candidate.cause].signal in rule.explained_by:
                candidates[index] = replace(candidate, evidence=candidate.evidence + shown)
                break
    # Two signals of one Fix (an OOM kill and memory near the limit) are one thing to do.
    merged: dict[str, Candidate] = {}
    for candidate in candidates:
        key = (
            candidate.section
            if candidate.section.startswith("Fix")
            else f"{candidate.section}/{candidate.cause}"
        )
        if key in merged:
            kept = merged[key]
            candidate = Candidate(
                kept.cause, kept.section, kept.summary, kept.evidence + candidate.evidence, kept.commands
            )
        merged[key] = candidate
    candidates = list(merged.values())

    unknowns = [r for r in readings if r.seen is Seen.UNKNOWN]
    if candidates:
        top = candidates[0]
        evidence = [r.detail for r in top.evidence]
        if unknowns:
            evidence.append(f"could not see: {_unknown_summary(unknowns)}")
        outcome = Outcome.UNREACHABLE if top.cause is Cause.UNREACHABLE else Outcome.DIAGNOSED
        return Diagnosis(
            top.cause, top.section, top.summary, evidence, list(top.commands), candidates, readings, outcome
        )
    if unknowns:
        what = _unknown_summary(unknowns)
        return Diagnosis(
            Cause.INCONCLUSIVE,
            "Triage 1",
            f"inconclusive: nothing seen wrong, but could not see {what}",
            [f"could not see: {r.source}: {r.detail}" for r in unknowns],
            render_commands("Triage 1", target, image=image),
            [],
            readings,
            Outcome.INCONCLUSIVE,
        )
    evidence = [f"{r.source}: {r.detail}" for r in readings]
    if observations.platform_reason:
        evidence.append(f"platform checks skipped: {observations.platform_reason}")
    return Diagnosis(
        Cause.HEALTHY,
        "none",
        "healthy: the API answers and is ready",
        evidence,
        [],
        [],
        readings,
        Outcome.HEALTHY,
    )


def look_for_triage(
    target: Target, platform: PlatformReads | None, *, platform_reason: str = ""
) -> Observations:
    """One look with the history triage needs (logs, previous logs, every event still kept)."""
    return look(target, platform, platform_reason=platform_reason, history=True)


def diagnose(
    target: Target, platform: PlatformReads | None = None, *, since: timedelta = DEFAULT_SINCE
) -> Diagnosis:
    """Walk Triage 1 -> 2A-2D on ``target`` (read-only). Without ``platform`` the target's own is
    opened; a target that names a platform it cannot reach is judged with those reads unknown."""
    access = open_platform(target) if platform is None else PlatformAccess(platform)
    try:
        return decide(look_for_triage(target, access.platform, platform_reason=access.reason), since=since)
    finally:
        if platform is None:
            access.close()
