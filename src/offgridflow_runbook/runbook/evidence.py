"""What one look at a target shows, read by read: seen bad, seen fine, or unknown (with the reason).

Each function here is a named predicate over one :class:`Observations` (pure, no I/O) and returns
:class:`Reading` values. A read that failed - an exec the API server refused, logs it would not give,
a metrics API that is missing, an engine or kube API that does not answer, no kubeconfig - is
``unknown`` with its reason: it is never turned into a cause, and never into "fine". Triage
(:mod:`offgridflow_runbook.runbook.triage`) ranks the bad readings with its decision table; the checks and
the chaos probes judge with the same predicates.

State decides and history adds: the pods'/containers' state (last termination, waiting reason,
restarts, readiness, the database's pods, endpoints) is read first; events and logs add evidence,
and events outside the window (``--since``) are counted and mentioned, never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from offgridflow_runbook.platforms import API_WORKLOAD, Event, NetworkStatus, Workload, runbook_commands
from offgridflow_runbook.probes.http import ProbeError, ProbeTimeout
from offgridflow_runbook.probes.prometheus import RUNBOOK_ALERTS
from offgridflow_runbook.probes.snapshot import Observations, Observed
from offgridflow_runbook.runbook.steps import (
    crash_looping,
    describe_workload,
    network_problems,
    readiness_problem,
    service_selection,
    usage_near_limit,
)

__all__ = [
    "CONFIG_ERROR_MARKER",
    "CONFIG_WAITING_REASONS",
    "DATABASE_DOWN_MARKER",
    "DATABASE_UP_MARKER",
    "DEFAULT_SINCE",
    "FAILED_CREATE",
    "IMAGE_PULL_REASONS",
    "MAX_SINCE",
    "PAGES_UNDELIVERABLE",
    "Reading",
    "Seen",
    "Signal",
    "api_readings",
    "blocked_rollout_readings",
    "config_error_lines",
    "config_refused",
    "crashed",
    "database_readings",
    "database_seen_ready",
    "endpoints_mirror_unready_pods",
    "event_window",
    "image_pull_failing",
    "log_excerpt",
    "monitoring_readings",
    "network_readings",
    "oom_event",
    "oom_killed",
    "pager_readings",
    "pull_failure_event",
    "read_everything",
    "resource_readings",
    "why_no_api_instance",
]

CONFIG_ERROR_MARKER = "invalid configuration"
DATABASE_DOWN_MARKER = "database unavailable"  # the API's log line while its database does not answer
DATABASE_UP_MARKER = "database available"
PAGES_UNDELIVERABLE = "pages cannot be delivered"
# The kubelet cannot build the container from its configuration (a ConfigMap or Secret, or a key of
# one, that the pod spec names and that does not exist): a configuration error, before any crash.
CONFIG_WAITING_REASONS = frozenset({"CreateContainerConfigError"})
IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
# The reason a ReplicaSet's event gives when it cannot create a pod.
FAILED_CREATE = "FailedCreate"
# "Check recent pod events": the API server keeps events for one hour, so "recent" is that hour.
DEFAULT_SINCE = timedelta(hours=1)
# The longest window ``--since`` or a record may ask for: no source the suite reads keeps events longer.
MAX_SINCE = timedelta(days=30)


class Seen(StrEnum):
    BAD = "seen bad"
    FINE = "seen fine"
    UNKNOWN = "unknown"


class Signal(StrEnum):
    """The signals of triage's decision table (a bad reading names the one it shows)."""

    NO_API_INSTANCE = "no_api_instance"
    DATABASE_PATH = "database_path"
    DATABASE_DOWN = "database_down"
    OOM_KILLED = "oom_killed"
    NEAR_LIMIT = "near_limit"
    CONFIG_ERROR = "config_error"
    IMAGE_PULL = "image_pull"
    CRASH_LOOP = "crash_loop"
    NETWORK = "network"
    API_NOT_ANSWERING = "api_not_answering"
    ROLLOUT_BLOCKED = "rollout_blocked"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class Reading:
    """One thing read, in the runbook's words, and what it showed."""

    source: str  # "API pods", "pg_isready", "previous logs", "events", "Prometheus", ...
    seen: Seen
    detail: str
    signal: Signal | None = None  # for a bad reading: the decision-table signal it shows

    def line(self) -> str:
        return f"[{self.seen}] {self.source}: {self.detail}"


def _unknown(source: str, observed: Observed[Any]) -> Reading:
    return Reading(source, Seen.UNKNOWN, observed.problem)


def _declared(observations: Observations, observed: Observed[Any], *, platform: bool = True) -> bool:
    """A read the target declares: done, or skipped although the target names a platform (the
    platform could not be opened: no kubeconfig, engine down), which makes it unknown, not absent."""
    if observed.skipped is None:
        return True
    return platform and observations.target.has_platform


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _answering(observations: Observations) -> str | None:
    """``GET <url>: HTTP <status>`` when the API's health endpoint answered at all, else None."""
    for observed in (observations.live, observations.ready):
        if observed.ok and observed.value is not None:
            return f"GET {observed.value.url}: HTTP {observed.value.status}"
    return None


def why_no_api_instance(observations: Observations) -> str:
    """Why no API instance exists, from the Deployment's rollout when it was read: scaled to 0, wanted
    but no pod matches the selector, or no Deployment that could be read."""
    rollout = observations.api_rollout
    if (known := runbook_commands(observations.target.platform).no_api_instance) is not None:
        reason = known
    elif rollout.ok and rollout.value is not None:
        status = rollout.value
        if status.desired == 0:
            reason = f"deployment/{API_WORKLOAD} is scaled to 0 replicas"
        else:
            reason = (
                f"deployment/{API_WORKLOAD} wants {status.desired} replica(s), {status.available} "
                f"available, but no pod matches the selector app={API_WORKLOAD} (pods labelled "
                f"otherwise, or none created: quota, admission, scheduling); {status.message}"
            )
    elif rollout.error is not None:
        reason = f"deployment/{API_WORKLOAD} could not be read ({rollout.problem}): never deployed?"
    else:
        reason = f"no pod matches the selector app={API_WORKLOAD} (the Deployment was not read)"
    return reason


# -- predicates over one workload ----------------------------------------------------------------------
def crashed(workload: Workload) -> bool:
    """Crash-looping, restarted, or ended in error (``Failed``, waiting ``Error``)."""
    return crash_looping(workload) or workload.phase == "Failed" or workload.waiting_reason == "Error"


def oom_killed(workload: Workload) -> bool:
    """The previous run ended ``OOMKilled`` (the kernel's OOM killer at the memory limit)."""
    return workload.last_termination is not None and workload.last_termination.oom_killed


def config_refused(workload: Workload) -> bool:
    """Waiting because the kubelet cannot build its environment from the configuration it names."""
    return workload.waiting_reason in CONFIG_WAITING_REASONS


def image_pull_failing(workload: Workload) -> bool:
    """Waiting because its image cannot be pulled."""
    return workload.waiting_reason in IMAGE_PULL_REASONS


def config_error_lines(previous_logs: dict[str, str]) -> list[str]:
    """``previous logs of <pod>: <line>`` for every line saying ``invalid configuration``."""
    return [
        f"previous logs of {name}: {line.strip()[:240]}"
        for name, text in previous_logs.items()
        for line in text.splitlines()
        if CONFIG_ERROR_MARKER in line
    ]


# -- events: the window ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventWindow:
    """Events split into those weighed (recent, of an API instance that exists now) and the rest."""

    weighed: tuple[Event, ...]
    outside: tuple[Event, ...]  # older than --since
    history: tuple[Event, ...]  # within --since, but of an instance that is gone or before it started

    def mention(self, since: timedelta) -> str | None:
        """One line saying what was not weighed, or None when everything was."""
        parts = []
        if self.outside:
            oldest = min(e.at for e in self.outside)
            reasons = ", ".join(sorted({e.reason for e in self.outside}))
            parts.append(
                f"{len(self.outside)} event(s) older than --since {_span(since)} not weighed "
                f"(oldest {oldest:%Y-%m-%d %H:%M:%S}Z; {reasons})"
            )
        if self.history:
            reasons = ", ".join(sorted({e.reason for e in self.history}))
            parts.append(
                f"{len(self.history)} event(s) of instances that are gone or were replaced ({reasons})"
            )
        return "; ".join(parts) or None


def _span(since: timedelta) -> str:
    seconds = int(since.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def _instance(event: Event, workloads: list[Workload]) -> Workload | None:
    """The current instance an event is about: by UID when both carry one (Docker recreates
    ``offgridflow-api`` under the same name), else by name."""
    for workload in workloads:
        if event.involved_uid and workload.uid:
            if event.involved_uid == workload.uid:
                return workload
        elif event.involved == workload.name:
            return workload
    return None


def event_window(observations: Observations, since: timedelta = DEFAULT_SINCE) -> EventWindow:
    """Weigh events of the API's current instances since ``since`` before the look. Before an
    instance's current start, only an OOM kill of an instance that restarted counts (how its previous
    run ended); a pull failure its start followed is history, as is any event of an instance that
    is gone or was replaced."""
    events = observations.events.value or []
    workloads = observations.api_workloads.value or []
    start = _aware(observations.at) - since
    weighed, outside, history = [], [], []
    for event in events:
        at = _aware(event.at)
        workload = _instance(event, workloads)
        began = _aware(workload.started_at) if workload and workload.started_at else None
        previous_run = workload is not None and workload.restart_count > 0 and oom_event(event)
        if at < start:
            outside.append(event)
        elif (workloads and workload is None) or (began is not None and at < began and not previous_run):
            history.append(event)
        else:
            weighed.append(event)
    return EventWindow(tuple(weighed), tuple(outside), tuple(history))


def pull_failure_event(event: Event) -> bool:
    """An event that says an image could not be pulled (kubelet's "Failed to pull image", or a reason
    such as ``ErrImagePull``)."""
    return "failed to pull image" in event.message.lower() or event.reason in IMAGE_PULL_REASONS


def blocked_rollout_readings(observations: Observations, since: timedelta = DEFAULT_SINCE) -> list[Reading]:
    """The API's rollout not complete while a ReplicaSet of its Deployment cannot create pods: a
    ``FailedCreate`` event within ``since`` (a ResourceQuota, an admission webhook, PodSecurity),
    newer than the newest start of the API's instances (the controller repeats it while it keeps being
    refused; one older than a pod made since is history). One reading per ReplicaSet, its newest
    event. Without such an event (aged out, or the events not readable), the Deployment's own
    ReplicaFailure condition, which its controller keeps while it is refused and drops once a pod is
    made, is the reading. A rollout that completed makes either history. A rollout read that failed is
    unknown, with its reason: a blocked rollout cannot be ruled out (a look recorded before the
    rollout was read has none to judge, as before)."""
    rollout, events = observations.api_rollout, observations.events
    if rollout.error is not None:
        return [_unknown("rollout", rollout)]
    if not (rollout.ok and rollout.value is not None and not rollout.value.complete):
        return []
    status = rollout.value
    start = _aware(observations.at) - since
    starts = [_aware(w.started_at) for w in observations.api_workloads.value or [] if w.started_at]
    start = max([start, *starts])
    newest: dict[str, Event] = {}
    for event in (events.value or []) if events.ok else []:
        # a Deployment's ReplicaSets are named <deployment>-<template hash>; its pods have one part more
        if event.reason != FAILED_CREATE or _aware(event.at) < start:
            continue
        if not event.involved.startswith(f"{API_WORKLOAD}-"):
            continue
        if event.involved not in newest or _aware(event.at) >= _aware(newest[event.involved].at):
            newest[event.involved] = event
    readings = [
        Reading(
            "events",
            Seen.BAD,
            f"the rollout is stuck ({status.message}): {FAILED_CREATE} {name}: {event.message}",
            Signal.ROLLOUT_BLOCKED,
        )
        for name, event in sorted(newest.items())
    ]
    if not readings and status.failure:
        readings.append(
            Reading(
                "rollout",
                Seen.BAD,
                f"the rollout is stuck ({status.message}): deployment/{API_WORKLOAD} ReplicaFailure "
                f"{status.failure}",
                Signal.ROLLOUT_BLOCKED,
            )
        )
    return readings


def oom_event(event: Event) -> bool:
    """An event that says a container was OOM-killed."""
    return "oomkill" in (event.reason + " " + event.message).lower()


# -- the readings ------------------------------------------------------------------------------------------
def api_readings(observations: Observations, since: timedelta = DEFAULT_SINCE) -> list[Reading]:
    """The API's instances (state first), its previous and current logs, and its events."""
    readings: list[Reading] = []
    pods = observations.api_workloads
    if not _declared(observations, pods):
        return readings
    workloads = pods.value or []
    if not pods.ok:
        readings.append(_unknown("API pods", pods))
    elif not workloads:
        detail = f"no API pods/containers (app={API_WORKLOAD}): {why_no_api_instance(observations)}"
        answered = _answering(observations)
        if answered is not None:
            # Something answers as the API, so an instance exists: what the platform shows is not where
            # it runs (a label, a namespace or a context that differs). That is a gap in the view, not
            # an API that is down.
            readings.append(
                Reading(
                    "API pods",
                    Seen.UNKNOWN,
                    f"{detail}; yet the API answers ({answered}): the platform view does not show the "
                    "instance that answers (another label, namespace or context?)",
                )
            )
        else:
            readings.append(Reading("API pods", Seen.BAD, detail, Signal.NO_API_INSTANCE))
    for workload in workloads:
        line = describe_workload(workload)
        if image_pull_failing(workload):
            readings.append(Reading("API pods", Seen.BAD, line, Signal.IMAGE_PULL))
        elif oom_killed(workload):
            readings.append(Reading("API pods", Seen.BAD, line, Signal.OOM_KILLED))
        elif config_refused(workload):
            readings.append(Reading("API pods", Seen.BAD, line, Signal.CONFIG_ERROR))
        elif crashed(workload):
            readings.append(Reading("API pods", Seen.BAD, line, Signal.CRASH_LOOP))
        else:
            readings.append(
                Reading(
                    "API pods",
                    Seen.FINE if workload.ready else Seen.BAD,
                    line,
                    None if workload.ready else Signal.UNHEALTHY,
                )
            )

    # --previous: only instances that crashed have one; its absence elsewhere is no gap.
    previous = observations.previous_logs
    if _declared(observations, previous):
        if not previous.ok:
            readings.append(_unknown("previous logs", previous))
        else:
            lines = config_error_lines(previous.value or {})
            if lines and any(crashed(w) for w in workloads):
                readings += [
                    Reading("previous logs", Seen.BAD, line, Signal.CONFIG_ERROR) for line in lines[:5]
                ]
            else:
                crashing = {w.name for w in workloads if crashed(w)}
                for name, text in (previous.value or {}).items():
                    last = text.strip().splitlines()[-1][:240] if text.strip() else "(empty)"
                    line = f"previous logs of {name}: {last}"
                    if name in crashing:  # how the crash ended, for the Quick Fix's evidence
                        readings.append(Reading("previous logs", Seen.BAD, line, Signal.CRASH_LOOP))
                    else:
                        readings.append(Reading("previous logs", Seen.FINE, line))
    current = observations.api_logs
    if _declared(observations, current) and not current.ok:
        readings.append(_unknown("logs", current))

    events = observations.events
    if _declared(observations, events):
        if not events.ok:
            readings.append(_unknown("events", events))
        else:
            window = event_window(observations, since)
            for event in window.weighed:
                signal = (
                    Signal.IMAGE_PULL
                    if pull_failure_event(event)
                    else Signal.OOM_KILLED
                    if oom_event(event)
                    else None
                )
                if signal is not None:
                    readings.append(
                        Reading(
                            "events", Seen.BAD, f"{event.reason} {event.involved}: {event.message}", signal
                        )
                    )
            mention = window.mention(since)
            if mention:
                readings.append(Reading("events", Seen.FINE, mention))
    return readings


def database_seen_ready(observations: Observations) -> bool:
    """Where pg_isready runs beside the API (Kubernetes: in the API's pod): the database's pods were
    read, and every one is running and ready. (On Docker pg_isready runs in the database's own
    container, so a refusal there is the database's.)"""
    pods = observations.database_workloads
    return (
        runbook_commands(observations.target.platform).pg_isready_from_api
        and pods.ok
        and bool(pods.value)
        and all(w.phase == "Running" and w.ready for w in pods.value or [])
    )


def _pg_isready_reading(observations: Observations) -> Reading | None:
    observed = observations.pg_isready
    if not _declared(observations, observed):
        return None
    if not observed.ok:
        # the exec itself failed (refused, forbidden, no pod to run it in): pg_isready never answered
        return _unknown("pg_isready", observed)
    result = observed.value
    assert result is not None
    output = result.output.strip().splitlines()[-1] if result.output.strip() else "no output"
    command = " ".join(result.command)
    if result.exit_code == 0:
        return Reading("pg_isready", Seen.FINE, f"{command}: {output}")
    if result.exit_code in (1, 2):  # pg_isready's own answers: rejecting connections / no response
        detail = f"{command} exited {result.exit_code}: {output}"
        if result.exit_code == 2 and database_seen_ready(observations):
            # The database's pods are seen running and ready, yet from the API's pod nothing answers:
            # the database is not what is broken, the way to it is (Service, endpoints, DNS, a
            # NetworkPolicy). "rejecting connections" (1) is the server's own answer, so it stays Fix 1.
            return Reading(
                "pg_isready",
                Seen.BAD,
                f"{detail}, although every database pod is running and ready: the path from the API "
                "to the database (postgres-service, its endpoints, DNS, a NetworkPolicy) is broken, "
                "not the database",
                Signal.DATABASE_PATH,
            )
        return Reading("pg_isready", Seen.BAD, detail, Signal.DATABASE_DOWN)
    return Reading("pg_isready", Seen.UNKNOWN, f"{command} could not run (exit {result.exit_code}): {output}")


def log_excerpt(line: str, limit: int = 240) -> str:
    """One of the API's log lines as evidence, at most ``limit`` characters. A JSON line is shown as
    its event and reason: cut as it is, its timestamp, level, logger and attempt fill the first 180
    characters, and the database's own answer (``FATAL: remaining connection slots are reserved``)
    would be cut off. Any other line as it is."""
    text = line.strip()
    try:
        record = json.loads(text)
    except ValueError:
        return text[:limit]
    if not isinstance(record, dict) or "event" not in record:
        return text[:limit]
    shown = str(record["event"])
    if record.get("reason"):
        shown += f": {record['reason']}"
    if record.get("ts"):
        shown += f" (at {record['ts']})"
    return shown[:limit]


def database_readings(observations: Observations) -> list[Reading]:
    """Runbook 2B: the database's pods (the StatefulSet's readiness), ``pg_isready``, and what the API
    says about its database (``/health/ready``, its logs)."""
    readings: list[Reading] = []
    pods = observations.database_workloads
    if _declared(observations, pods):
        if not pods.ok:
            readings.append(_unknown("database pods", pods))
        elif not pods.value:
            readings.append(
                Reading(
                    "database pods",
                    Seen.BAD,
                    "no postgres pod (StatefulSet postgres: 0 ready)",
                    Signal.DATABASE_DOWN,
                )
            )
        else:
            for workload in pods.value:
                fine = workload.phase == "Running" and workload.ready
                readings.append(
                    Reading(
                        "database pods",
                        Seen.FINE if fine else Seen.BAD,
                        describe_workload(workload),
                        None if fine else Signal.DATABASE_DOWN,
                    )
                )
    if (reading := _pg_isready_reading(observations)) is not None:
        readings.append(reading)
    problem = readiness_problem(observations)
    if observations.ready.ok and problem and "database" in problem.lower():
        readings.append(Reading("/health/ready", Seen.BAD, problem, Signal.DATABASE_DOWN))
    logs = observations.api_logs
    if logs.ok:
        for name, text in (logs.value or {}).items():
            said = [
                line
                for line in text.splitlines()
                if DATABASE_DOWN_MARKER in line or DATABASE_UP_MARKER in line
            ]
            if said and DATABASE_DOWN_MARKER in said[-1]:
                readings.append(
                    Reading("logs", Seen.BAD, f"{name}: {log_excerpt(said[-1])}", Signal.DATABASE_DOWN)
                )
    return readings


def resource_readings(observations: Observations) -> list[Reading]:
    """Runbook 2C: ``kubectl top`` against the limits."""
    usage = observations.usage
    if not _declared(observations, usage):
        return []
    if not usage.ok:
        return [_unknown("resource usage", usage)]
    workloads = {w.name: w for w in observations.api_workloads.value or []}
    readings = []
    for item in usage.value or []:
        line, near = usage_near_limit(item, workloads.get(item.name))
        if near:
            readings.append(
                Reading("resource usage", Seen.BAD, f"{line}: {'; '.join(near)}", Signal.NEAR_LIMIT)
            )
        else:
            readings.append(Reading("resource usage", Seen.FINE, line))
    return readings


def endpoints_mirror_unready_pods(observations: Observations, network: NetworkStatus) -> bool:
    """No ready endpoint while every API pod is not ready, and the Service is not seen to select none
    of them. The Service selects the pods and routes to them; they are not ready (a hung process, a
    database they cannot reach), which is why the endpoints are empty: that is the pods' readiness
    (Triage 1, or the Fix that explains it), not a network or ingress fault (Triage 2D). 2D's own case
    is the other one: pods ready, and the Service selecting none of them. The same on both platforms:
    the local stack's Service (its routing proxy) has Endpoints as a cluster's has."""
    if network.ready_endpoints:
        return False
    if not network.not_ready_endpoints and network.selected_pods is None:
        return False  # nothing says the Service selects them: the endpoints' emptiness stays 2D's
    pods = observations.api_workloads
    return pods.ok and bool(pods.value) and not any(w.ready for w in pods.value or [])


def network_readings(observations: Observations) -> list[Reading]:
    """Runbook 2D: an Ingress and ready endpoints (Kubernetes); the published ports (Docker); what
    the API Service selects against the API instances there are."""
    observed = observations.network
    if not _declared(observations, observed):
        return []
    if not observed.ok:
        return [_unknown("ingress and endpoints", observed)]
    network = observed.value
    assert network is not None
    problems = network_problems(observations, network)
    shown = f"ingresses: {', '.join(network.ingresses) or 'none'}; endpoints ready={network.ready_endpoints}"
    if network.not_ready_endpoints:
        shown += f" not ready={network.not_ready_endpoints}"
    selection = service_selection(observations, network)
    if selection:
        shown += f"; {selection}"
    if network.detail:
        shown += f"; {network.detail}"
    readings = []
    if network.ready_endpoints == 0 and selection is None and network.selected_pods is None:
        # why the endpoints are empty is the selector's to say: not read is "could not see", named
        detail = network.detail or "the Service's selector was not read"
        readings.append(Reading("Service selector", Seen.UNKNOWN, detail))
    if endpoints_mirror_unready_pods(observations, network):
        # Only the endpoints' readiness, which the pods' own reading already shows: no 2D problem.
        count = network.not_ready_endpoints or network.selected_pods
        readings.append(
            Reading(
                "ingress and endpoints",
                Seen.BAD,
                f"offgridflow-api-service has {count} endpoint(s), none ready: "
                f"its API pods are not ready ({shown})",
                Signal.UNHEALTHY,
            )
        )
        # what else 2D finds (no Ingress), as if the endpoints were ready
        as_if_ready = replace(network, ready_endpoints=count or 1)
        problems = network_problems(observations, as_if_ready)
        if not problems:
            return readings
    if problems:
        return [
            Reading("ingress and endpoints", Seen.BAD, f"{'; '.join(problems)} ({shown})", Signal.NETWORK),
            *readings,
        ]
    return [Reading("ingress and endpoints", Seen.FINE, shown), *readings]


def http_readings(observations: Observations) -> list[Reading]:
    """Triage 1 and Verification 2 over HTTP: ``/health/live``, ``/health/ready`` and the metrics."""
    readings = []
    live = observations.live
    if live.ok:
        answer = live.value
        assert answer is not None
        seen = Seen.FINE if answer.ok else Seen.BAD
        readings.append(
            Reading(
                "/health/live",
                seen,
                f"GET {answer.url}: HTTP {answer.status}",
                None if answer.ok else Signal.UNHEALTHY,
            )
        )
    elif isinstance(live.error, ProbeError):
        hung = (
            " (the port accepts connections but nothing answers: a hung process?)"
            if isinstance(live.error, ProbeTimeout)
            else ""
        )
        readings.append(Reading("/health/live", Seen.BAD, live.problem + hung, Signal.API_NOT_ANSWERING))
    else:
        readings.append(_unknown("/health/live", live))
    if observations.ready.ok:
        problem = readiness_problem(observations)
        if problem is None:
            readings.append(Reading("/health/ready", Seen.FINE, "healthy"))
        elif "database" not in problem.lower():
            readings.append(Reading("/health/ready", Seen.BAD, problem, Signal.UNHEALTHY))
    metrics = observations.metrics
    if _declared(observations, metrics, platform=False) and not metrics.ok and live.ok:
        readings.append(_unknown("metrics", metrics))
    return readings


def monitoring_readings(observations: Observations) -> list[Reading]:
    """Prometheus, when the target declares one: down means no alert can page, which is news of its own."""
    alerts = observations.alerts
    if not _declared(observations, alerts, platform=False):
        return []
    if not alerts.ok:
        return [
            Reading(
                "Prometheus",
                Seen.UNKNOWN,
                f"monitoring is down or unreachable, so no alert can page: {alerts.problem}",
            )
        ]
    firing = sorted({a.name for a in alerts.value or [] if a.state == "firing" and a.name in RUNBOOK_ALERTS})
    if firing:  # a page is out: whatever else was seen, this is not an all-clear
        return [Reading("Prometheus", Seen.BAD, f"firing: {', '.join(firing)}", Signal.UNHEALTHY)]
    return [Reading("Prometheus", Seen.FINE, f"none of {', '.join(RUNBOOK_ALERTS)} firing")]


def pager_readings(observations: Observations) -> list[Reading]:
    """Alertmanager and the alert receiver, when the target declares them: either unreadable means no
    page can be delivered, so the look is not an all-clear (unknown, with the reason)."""
    readings = []
    for source, observed in (
        ("Alertmanager", observations.alertmanager),
        ("alert receiver", observations.alert_receiver),
    ):
        if not _declared(observations, observed, platform=False):
            continue
        if observed.ok and observed.value is not None:
            readings.append(
                Reading(source, Seen.FINE, f"GET {observed.value.url}: HTTP {observed.value.status}")
            )
        else:
            readings.append(Reading(source, Seen.UNKNOWN, f"{PAGES_UNDELIVERABLE}: {observed.problem}"))
    return readings


def read_everything(observations: Observations, since: timedelta = DEFAULT_SINCE) -> list[Reading]:
    """Every reading of the look, state before history, in the runbook's triage order."""
    groups: Iterable[list[Reading]] = (
        http_readings(observations),
        api_readings(observations, since),
        blocked_rollout_readings(observations, since),
        database_readings(observations),
        resource_readings(observations),
        network_readings(observations),
        monitoring_readings(observations),
        pager_readings(observations),
    )
    readings: list[Reading] = []
    for group in groups:
        readings += group
    return readings
