"""The runbook's Triage and Verification steps as pure functions over one :class:`Observations`.

The pytest checks (``checks/``), :func:`offgridflow_runbook.runbook.verification.verify` and the triage tree
all judge with these functions, so a check, the steady state of a chaos experiment and a diagnosis
always agree. Each returns a :class:`StepResult`; a step whose access the target lacks is
``skipped`` with the reason, never ``passed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from offgridflow_runbook.platforms import NetworkStatus, Usage, Workload, label_selector, runbook_commands
from offgridflow_runbook.probes.http import Unauthorized, Unreachable
from offgridflow_runbook.probes.prometheus import RUNBOOK_ALERTS
from offgridflow_runbook.probes.snapshot import Observations, Observed

__all__ = [
    "MEMORY_NEAR_LIMIT",
    "Outcome",
    "StepResult",
    "describe_workload",
    "network_problems",
    "pages_deliverable",
    "service_selection",
    "triage_1_live",
    "triage_1_pods",
    "triage_2a_crash_loop",
    "triage_2b_database",
    "triage_2c_resources",
    "triage_2d_network",
    "usage_near_limit",
    "verification_1_pods",
    "verification_2_ready",
    "verification_3_activities",
    "verification_4_metrics",
    "verification_5_alerts",
    "verification_5_error_rate",
]

PAGING = "Paging"  # not a runbook step: the pager's own path, which every alert of the runbook needs
MEMORY_NEAR_LIMIT = 0.9  # use at or above this share of the limit counts as resource exhaustion
CPU_NEAR_LIMIT = 0.9
_METRIC_LINE = re.compile(r"^http_requests_total[{ ]", re.MULTILINE)


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class StepResult:
    """The verdict of one runbook step, with a one-line message and the evidence behind it."""

    step: str  # "Triage 1", "Triage 2A", ..., "Verification 5"
    title: str
    outcome: Outcome
    message: str
    evidence: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.outcome is Outcome.FAILED


def _not_observed(step: str, title: str, observed: Observed[Any]) -> StepResult | None:
    if observed.skipped is not None:
        return StepResult(step, title, Outcome.SKIPPED, observed.skipped)
    if observed.error is not None:
        return StepResult(step, title, Outcome.FAILED, observed.problem)
    return None


def describe_workload(workload: Workload) -> str:
    """``name phase ready restarts image [waiting reason] [last termination]`` in one line."""
    parts = [
        workload.name,
        workload.phase,
        "ready" if workload.ready else "not ready",
        f"restarts={workload.restart_count}",
        workload.image,
    ]
    if workload.waiting_reason:
        parts.append(f"waiting={workload.waiting_reason}")
        if workload.waiting_message:
            parts.append(f"({workload.waiting_message})")
    if workload.last_termination is not None:
        ended = workload.last_termination
        parts.append(f"last terminated {ended.reason} (exit {ended.exit_code})")
    return " ".join(parts)


# -- Triage ------------------------------------------------------------------------------------------
def triage_1_live(observations: Observations) -> StepResult:
    """``curl -f /health/live``: the API answers 2xx."""
    title = "/health/live answers"
    if (early := _not_observed("Triage 1", title, observations.live)) is not None:
        return early
    live = observations.live.value
    assert live is not None
    if not live.ok:
        return StepResult("Triage 1", title, Outcome.FAILED, f"GET {live.url} answered HTTP {live.status}")
    return StepResult("Triage 1", title, Outcome.PASSED, f"GET {live.url}: HTTP {live.status}")


def triage_1_pods(observations: Observations) -> StepResult:
    """``kubectl get pods -l app=offgridflow-api``: the API's instances with status and restarts."""
    title = "API pods/containers listed"
    if (early := _not_observed("Triage 1", title, observations.api_workloads)) is not None:
        return early
    workloads = observations.api_workloads.value or []
    if not workloads:
        return StepResult("Triage 1", title, Outcome.FAILED, "no API pods/containers (app=offgridflow-api)")
    lines = tuple(describe_workload(w) for w in workloads)
    return StepResult("Triage 1", title, Outcome.PASSED, f"{len(workloads)} API instance(s)", lines)


def crash_looping(workload: Workload) -> bool:
    """Restarted at least once, or waiting in CrashLoopBackOff."""
    return workload.restart_count > 0 or workload.waiting_reason == "CrashLoopBackOff"


def triage_2a_crash_loop(observations: Observations) -> StepResult:
    """2A: restart count is 0; otherwise the termination reason of each restarted instance."""
    title = "no crash loop (restart count 0)"
    if (early := _not_observed("Triage 2A", title, observations.api_workloads)) is not None:
        return early
    looping = [w for w in observations.api_workloads.value or [] if crash_looping(w)]
    if not looping:
        return StepResult("Triage 2A", title, Outcome.PASSED, "every API instance has 0 restarts")
    reasons = []
    for workload in looping:
        ended = workload.last_termination
        why = (
            f"{ended.reason}, exit code {ended.exit_code}" if ended else workload.waiting_reason or "unknown"
        )
        reasons.append(f"{workload.name}: {workload.restart_count} restart(s), last termination {why}")
    return StepResult(
        "Triage 2A",
        title,
        Outcome.FAILED,
        "crash loop: " + "; ".join(reasons),
        tuple(map(describe_workload, looping)),
    )


def triage_2b_database(observations: Observations) -> StepResult:
    """2B: ``pg_isready -h postgres-service -p 5432`` from the API's side."""
    title = "database answers pg_isready"
    if (early := _not_observed("Triage 2B", title, observations.pg_isready)) is not None:
        return early
    result = observations.pg_isready.value
    assert result is not None
    command = " ".join(result.command)
    output = result.output.strip().splitlines()[-1] if result.output.strip() else "no output"
    if result.exit_code != 0:
        return StepResult(
            "Triage 2B", title, Outcome.FAILED, f"{command} exited {result.exit_code}: {output}"
        )
    return StepResult("Triage 2B", title, Outcome.PASSED, f"{command}: {output}")


def _percent(used: float, limit: float) -> str:
    return f"{100 * used / limit:.0f}%"


def usage_near_limit(usage: Usage, workload: Workload | None) -> tuple[str, list[str]]:
    """One ``kubectl top`` line against the limits, and what is at or above 90% of its limit."""
    limit = usage.memory_limit_bytes or (workload.memory_limit_bytes if workload else None)
    cpu_limit = workload.cpu_limit_millicores if workload else None
    line = f"{usage.name}: memory {usage.memory_bytes / 2**20:.0f}Mi"
    near = []
    if limit:
        line += f" of {limit / 2**20:.0f}Mi ({_percent(usage.memory_bytes, limit)})"
        if usage.memory_bytes >= MEMORY_NEAR_LIMIT * limit:
            near.append(f"memory at {_percent(usage.memory_bytes, limit)} of its limit")
    line += f", cpu {usage.cpu_millicores:.0f}m"
    if cpu_limit:
        line += f" of {cpu_limit}m"
        if usage.cpu_millicores >= CPU_NEAR_LIMIT * cpu_limit:
            near.append(f"CPU at {_percent(usage.cpu_millicores, cpu_limit)} of its limit")
    return line, near


def triage_2c_resources(observations: Observations) -> StepResult:
    """2C: memory limits are set, and memory/CPU use is below 90% of them."""
    title = "resource limits set and not exhausted"
    for observed in (observations.api_workloads, observations.usage):
        if (early := _not_observed("Triage 2C", title, observed)) is not None:
            return early
    workloads = {w.name: w for w in observations.api_workloads.value or []}
    problems = [f"{name}: no memory limit" for name, w in workloads.items() if w.memory_limit_bytes is None]
    evidence = []
    for usage in observations.usage.value or []:
        line, near = usage_near_limit(usage, workloads.get(usage.name))
        problems += [f"{usage.name}: {what}" for what in near]
        evidence.append(line)
    if problems:
        return StepResult("Triage 2C", title, Outcome.FAILED, "; ".join(problems), tuple(evidence))
    return StepResult("Triage 2C", title, Outcome.PASSED, "limits set, use below 90%", tuple(evidence))


def _labels(selector: tuple[tuple[str, str], ...]) -> str:
    return label_selector(selector) or "(none)"


def service_selection(observations: Observations, network: NetworkStatus) -> str | None:
    """What the API Service selects against the API instances there are: ``selector app=...,x=y
    matches 0 of 2 API pods (2 ready)``; None when the selector could not be read."""
    if network.service_selector is None:
        return None
    pods = observations.api_workloads.value
    matched = "?" if network.selected_pods is None else str(network.selected_pods)
    if pods is None or not observations.api_workloads.ok:
        return f"selector {_labels(network.service_selector)} matches {matched} API pod(s)"
    ready = sum(1 for w in pods if w.ready)
    return (
        f"selector {_labels(network.service_selector)} matches {matched} of the {len(pods)} API pod(s) "
        f"labelled app=offgridflow-api ({ready} ready)"
    )


def network_problems(observations: Observations, network: NetworkStatus) -> list[str]:
    """2D's judgement: no Ingress (Kubernetes), no ready endpoints (on Docker too: the local stack's
    Service, its routing proxy, has Endpoints as a cluster's has), a Service selector that matches no
    API instance."""
    problems = []
    if runbook_commands(observations.target.platform).has_ingress and not network.ingresses:
        problems.append(f"no Ingress in namespace {observations.target.namespace}")
    if network.ready_endpoints == 0:
        problems.append("offgridflow-api-service has no ready endpoints")
    if network.selected_pods == 0 and network.service_selector is not None:
        problems.append(
            f"offgridflow-api-service's selector {_labels(network.service_selector)} matches no API pod"
        )
    if (refused := refused_past_ready_pods(observations, network)) is not None:
        problems.append(refused)
    return problems


def refused_past_ready_pods(observations: Observations, network: NetworkStatus) -> str | None:
    """The path, not the pods: every API pod is ready (its own probes answer) and the Service has ready
    endpoints, yet the API's URL refuses the connection. What lies between does not reach them: the
    Service's port or targetPort, the Ingress, the NodePort. A timeout is not this (a hung process
    still counted ready until its probe fails), nor a look whose pods were not read."""
    live, pods = observations.live, observations.api_workloads
    if not isinstance(live.error, Unreachable) or network.ready_endpoints == 0:
        return None
    if not pods.ok or not pods.value or not all(w.ready for w in pods.value):
        return None
    return (
        f"every API pod is ready ({len(pods.value)}) and offgridflow-api-service has "
        f"{network.ready_endpoints} ready endpoint(s), yet {live.error.url} refuses the connection: "
        "the path to them (the Service's port and targetPort, the Ingress, the NodePort) does not reach them"
    )


def triage_2d_network(observations: Observations) -> StepResult:
    """2D: an Ingress and ready endpoints (Kubernetes); the published ports answer (Docker)."""
    title = "ingress and endpoints / published ports"
    if (early := _not_observed("Triage 2D", title, observations.network)) is not None:
        return early
    network = observations.network.value
    assert network is not None
    evidence = (
        f"ingresses: {', '.join(network.ingresses) or 'none'}",
        f"endpoints ready={network.ready_endpoints} not ready={network.not_ready_endpoints}",
        *([f"published: {', '.join(network.published)}"] if network.published else []),
        *([selection] if (selection := service_selection(observations, network)) else []),
        *([network.detail] if network.detail else []),
    )
    problems = network_problems(observations, network)
    if problems:
        return StepResult("Triage 2D", title, Outcome.FAILED, "; ".join(problems), evidence)
    return StepResult(
        "Triage 2D", title, Outcome.PASSED, f"{network.ready_endpoints} ready endpoint(s)", evidence
    )


# -- Verification ------------------------------------------------------------------------------------
def verification_1_pods(observations: Observations) -> StepResult:
    """1: all API pods Running (and ready) with 0 restarts."""
    title = "all pods Running with 0 restarts"
    if (early := _not_observed("Verification 1", title, observations.api_workloads)) is not None:
        return early
    workloads = observations.api_workloads.value or []
    if not workloads:
        return StepResult(
            "Verification 1", title, Outcome.FAILED, "no API pods/containers (app=offgridflow-api)"
        )
    bad = [w for w in workloads if w.phase != "Running" or not w.ready or w.restart_count != 0]
    evidence = tuple(map(describe_workload, workloads))
    if bad:
        return StepResult(
            "Verification 1", title, Outcome.FAILED, "; ".join(map(describe_workload, bad)), evidence
        )
    return StepResult(
        "Verification 1", title, Outcome.PASSED, f"{len(workloads)} Running, 0 restarts", evidence
    )


def readiness_problem(observations: Observations) -> str | None:
    """Why ``/health/ready`` is not ``{"status": "healthy"}`` (None when it is)."""
    if not observations.ready.ok:
        return observations.ready.problem
    ready = observations.ready.value
    assert ready is not None
    body = ready.json()
    if ready.status == 200 and isinstance(body, dict) and body.get("status") == "healthy":
        return None
    return f"GET {ready.url} answered HTTP {ready.status}: {ready.text.strip()[:200]}"


def verification_2_ready(observations: Observations) -> StepResult:
    """2: ``/health/ready`` answers ``{"status": "healthy", ...}``."""
    title = '/health/ready is {"status":"healthy"}'
    problem = readiness_problem(observations)
    if problem is not None:
        return StepResult("Verification 2", title, Outcome.FAILED, problem)
    assert observations.ready.value is not None
    return StepResult("Verification 2", title, Outcome.PASSED, f"GET {observations.ready.value.url}: healthy")


def activity_list(body: object) -> list[object] | None:
    """The list of activities in a ``/v1/activities`` answer (a list, or an object holding one)."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in ("activities", "items", "data", "results"):
            if isinstance(body.get(key), list):
                return list(body[key])
    return None


def verification_3_activities(observations: Observations) -> StepResult:
    """3: ``GET /v1/activities?limit=1`` with the bearer token answers 200 with a list."""
    title = "GET /v1/activities?limit=1 with the token"
    observed = observations.activities
    if isinstance(observed.error, Unauthorized):
        return StepResult("Verification 3", title, Outcome.FAILED, observed.problem)
    if (early := _not_observed("Verification 3", title, observed)) is not None:
        return early
    answer = observed.value
    assert answer is not None
    if answer.status != 200:
        return StepResult(
            "Verification 3", title, Outcome.FAILED, f"GET {answer.url} answered HTTP {answer.status}"
        )
    items = activity_list(answer.json())
    if items is None:
        return StepResult(
            "Verification 3", title, Outcome.FAILED, f"GET {answer.url}: 200 but the body holds no list"
        )
    return StepResult("Verification 3", title, Outcome.PASSED, f"GET {answer.url}: 200, {len(items)} item(s)")


def verification_4_metrics(observations: Observations) -> StepResult:
    """4: the metrics endpoint exposes ``http_requests_total``."""
    title = "metrics expose http_requests_total"
    if (early := _not_observed("Verification 4", title, observations.metrics)) is not None:
        return early
    metrics = observations.metrics.value
    assert metrics is not None
    if metrics.status != 200:
        return StepResult(
            "Verification 4", title, Outcome.FAILED, f"GET {metrics.url} answered HTTP {metrics.status}"
        )
    if not _METRIC_LINE.search(metrics.text):
        return StepResult(
            "Verification 4", title, Outcome.FAILED, f"GET {metrics.url}: no http_requests_total series"
        )
    return StepResult(
        "Verification 4", title, Outcome.PASSED, f"GET {metrics.url}: http_requests_total present"
    )


def verification_5_error_rate(observations: Observations) -> StepResult:
    """5: the error rate over 5 minutes is below 1% (the ``OffGridFlowAPIHighErrorRate`` expression)."""
    title = "error rate below 1% over 5 minutes"
    if (early := _not_observed("Verification 5", title, observations.error_rate)) is not None:
        return early
    rate = observations.error_rate.value
    assert rate is not None
    # an empty ratio means no 5xx series (or no traffic) in the window: the alert cannot fire either
    shown = (
        "without samples (no 5xx responses or no traffic in 5 minutes)"
        if rate.ratio is None
        else (f"{100 * rate.ratio:.2f}%")
    )
    evidence = (f"expression: {rate.expression}",)
    if rate.alerting_series:
        return StepResult(
            "Verification 5", title, Outcome.FAILED, f"error rate {shown} is above the alert limit", evidence
        )
    return StepResult("Verification 5", title, Outcome.PASSED, f"error rate {shown}", evidence)


def verification_5_alerts(observations: Observations) -> StepResult:
    """5: none of the runbook's alerts is firing."""
    title = "no runbook alert firing"
    if (early := _not_observed("Verification 5", title, observations.alerts)) is not None:
        return early
    firing = sorted(
        {a.name for a in observations.alerts.value or [] if a.state == "firing" and a.name in RUNBOOK_ALERTS}
    )
    if firing:
        return StepResult("Verification 5", title, Outcome.FAILED, f"firing: {', '.join(firing)}")
    return StepResult("Verification 5", title, Outcome.PASSED, f"none of {', '.join(RUNBOOK_ALERTS)} firing")


# -- the pager (not a runbook step) ---------------------------------------------------------------
def pages_deliverable(observations: Observations) -> StepResult:
    """Alertmanager answers ``/api/v2/status`` and the alert receiver ``GET /deliveries``: a page can
    be delivered. Either unreadable fails ("pages cannot be delivered: <reason>"); a target that
    declares neither is skipped."""
    title = "pages can be delivered"
    reads = {"Alertmanager": observations.alertmanager, "alert receiver": observations.alert_receiver}
    declared = {name: observed for name, observed in reads.items() if observed.skipped is None}
    if not declared:
        reasons = "; ".join(observed.skipped or "" for observed in reads.values())
        return StepResult(PAGING, title, Outcome.SKIPPED, reasons)
    problems = [f"{name}: {observed.problem}" for name, observed in declared.items() if not observed.ok]
    if problems:
        return StepResult(PAGING, title, Outcome.FAILED, f"pages cannot be delivered: {'; '.join(problems)}")
    evidence = tuple(
        f"{name}: GET {observed.value.url}: HTTP {observed.value.status}"
        for name, observed in declared.items()
        if observed.value is not None
    )
    undeclared = [name for name in reads if name not in declared]
    message = f"{' and '.join(declared)} answer"
    if undeclared:
        message += f" (the target declares no {' or '.join(undeclared)})"
    return StepResult(PAGING, title, Outcome.PASSED, message, evidence)
