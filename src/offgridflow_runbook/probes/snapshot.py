"""One concurrent look at a target: every read the runbook's Triage and Verification steps need.

All HTTP, Prometheus and platform reads run at the same time, each in a thread, so a full check run
costs about the slowest read rather than the sum of them, and never more than the look's deadline.
Each read is an :class:`Observed`: a value, the error that prevented it, or the reason it was skipped
(the target lacks that access).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, TypeVar

from offgridflow_runbook.platforms import (
    CommandResult,
    Event,
    NetworkStatus,
    PlatformReads,
    RolloutStatus,
    Usage,
    Workload,
)
from offgridflow_runbook.probes.http import ApiProbe, HttpResult, ProbeError
from offgridflow_runbook.probes.pager import alertmanager_status, receiver_deliveries
from offgridflow_runbook.probes.platform import open_platform
from offgridflow_runbook.probes.prometheus import (
    DEFAULT_RULES_FILE,
    ERROR_RATE_ALERT,
    Alert,
    PrometheusProbe,
    alert_expression,
    strip_threshold,
)
from offgridflow_runbook.targets import Target

__all__ = [
    "HISTORY_READS",
    "LOOK_DEADLINE_SECONDS",
    "PAGER_READS",
    "ErrorRate",
    "NoAnswerInTime",
    "Observations",
    "Observed",
    "look",
    "observe",
]

T = TypeVar("T")

_NOT_ASKED = "not read (the checks do not need it)"
# The reads triage adds to the checks' look: logs of the current and the previous run, and events.
# The Deployment's rollout is read with them: when no API pod is found, it says why (scaled to 0, ...).
HISTORY_READS = ("api_logs", "previous_logs", "events", "api_rollout")
# The pager's path, read whenever the target declares it (``alertmanager_url``, ``alert_receiver_url``).
PAGER_READS = ("alertmanager", "alert_receiver")
# Each read is bounded on its own (an HTTP read by its timeouts, a Kubernetes answer within 35 s, an
# exec within 55 s); this bounds whatever is not (a library call without a timeout, a read added
# later), so that a look, and a scheduled check run, always ends.
LOOK_DEADLINE_SECONDS = 120.0


class NoAnswerInTime(Exception):
    """A read that had not ended at the look's deadline: left running, its answer never used."""


@dataclass(frozen=True)
class Observed(Generic[T]):
    """The outcome of one read: exactly one of value (with ``error`` None), error, or skipped."""

    value: T | None = None
    error: Exception | None = None
    skipped: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.skipped is None

    @property
    def problem(self) -> str:
        """Why there is no value (one line), or "" when there is one."""
        if self.skipped is not None:
            return self.skipped
        if self.error is not None:
            return str(self.error).splitlines()[0] if str(self.error) else type(self.error).__name__
        return ""


@dataclass(frozen=True)
class ErrorRate:
    """The ``OffGridFlowAPIHighErrorRate`` expression evaluated now."""

    expression: str
    alerting_series: int  # series the full alert expression returns (0 = below the limit)
    ratio: float | None  # current 5xx ratio when it can be computed (None: no traffic / other shape)
    limit: float | None


@dataclass(frozen=True)
class Observations:
    """Everything read from one target at one moment."""

    target: Target
    live: Observed[HttpResult]
    ready: Observed[HttpResult]
    activities: Observed[HttpResult]
    metrics: Observed[HttpResult]
    error_rate: Observed[ErrorRate]
    alerts: Observed[list[Alert]]
    api_workloads: Observed[list[Workload]]
    database_workloads: Observed[list[Workload]]
    pg_isready: Observed[CommandResult]
    usage: Observed[list[Usage]]
    network: Observed[NetworkStatus]
    # Triage's history (``kubectl logs``, ``--previous``, ``kubectl get events``); read only when asked.
    api_logs: Observed[dict[str, str]] = field(default_factory=lambda: Observed(skipped=_NOT_ASKED))
    previous_logs: Observed[dict[str, str]] = field(default_factory=lambda: Observed(skipped=_NOT_ASKED))
    events: Observed[list[Event]] = field(default_factory=lambda: Observed(skipped=_NOT_ASKED))
    api_rollout: Observed[RolloutStatus] = field(default_factory=lambda: Observed(skipped=_NOT_ASKED))
    # The pager: Alertmanager's status and the receiver's deliveries (a look made before they were read
    # has them skipped, and a skipped read is not judged).
    alertmanager: Observed[HttpResult] = field(default_factory=lambda: Observed(skipped=_NOT_ASKED))
    alert_receiver: Observed[HttpResult] = field(default_factory=lambda: Observed(skipped=_NOT_ASKED))
    platform: PlatformReads | None = field(default=None, compare=False, repr=False)
    platform_reason: str = ""
    wall_seconds: float = 0.0
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def timings(self) -> dict[str, object]:
        """How long the whole look and each read took (seconds), for benchmarks."""
        reads = {
            name: getattr(self, name).seconds
            for name in (
                "live",
                "ready",
                "activities",
                "metrics",
                "error_rate",
                "alerts",
                "api_workloads",
                "database_workloads",
                "pg_isready",
                "usage",
                "network",
                *HISTORY_READS,
                *PAGER_READS,
            )
            if getattr(self, name).skipped is None
        }
        return {"wall_seconds": self.wall_seconds, "reads": reads}


def _read_all(reads: dict[str, Callable[[], object]], deadline: float) -> dict[str, Observed[object]]:
    """Each read in a thread of its own, all at once; what has not ended by ``deadline`` s is a
    :class:`NoAnswerInTime`. The threads are daemons: one stuck for good neither holds the look nor
    keeps the process from ending (an executor's workers are joined when the interpreter exits)."""
    results: dict[str, Observed[object]] = {}
    done = threading.Condition()

    def run(name: str, read: Callable[[], object]) -> None:
        observed = _timed(read)
        with done:
            results[name] = observed
            done.notify_all()

    for name, read in reads.items():
        threading.Thread(target=run, args=(name, read), name=f"observe-{name}", daemon=True).start()
    end = time.monotonic() + deadline
    with done:
        while len(results) < len(reads) and done.wait(timeout=max(0.0, end - time.monotonic())):
            pass
        answered = dict(results)
    for name in reads.keys() - answered.keys():
        error = NoAnswerInTime(f"{name}: no answer within the look's {deadline:g} s (left running, not used)")
        answered[name] = Observed(error=error, seconds=deadline)
    return {name: answered[name] for name in reads}


def _timed(read: Callable[[], T]) -> Observed[T]:
    started = time.perf_counter()
    try:
        value = read()
    except Exception as error:  # a check reports what went wrong; it must not crash the run
        return Observed(error=error, seconds=time.perf_counter() - started)
    return Observed(value=value, seconds=time.perf_counter() - started)


def _loaded_expression(prometheus: PrometheusProbe, alert: str) -> str | None:
    """``alert``'s expression as the target's Prometheus evaluates it (its profile's windows), or None
    when that Prometheus has no such rule loaded or its rules cannot be listed (the query itself then
    says whether Prometheus can be read at all)."""
    try:
        rules = prometheus.alerting_rules()
    except ProbeError:
        return None
    for rule in rules:
        if rule.get("name") == alert and rule.get("query"):
            return str(rule["query"]).strip()
    return None


def _error_rate(prometheus: PrometheusProbe, rules_file: Path) -> ErrorRate:
    # the alert as it pages (a fast profile's short window included), else as the repository writes it
    expression = _loaded_expression(prometheus, ERROR_RATE_ALERT) or alert_expression(
        ERROR_RATE_ALERT, rules_file
    )
    split = strip_threshold(expression)
    if split is None:
        return ErrorRate(expression, len(prometheus.query(expression)), ratio=None, limit=None)
    ratio_expression, limit = split
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="observe-ratio") as pool:
        ratio_samples = pool.submit(prometheus.query, ratio_expression)  # beside the alert's query
        alerting = prometheus.query(expression)
        values = [sample.value for sample in ratio_samples.result() if sample.value == sample.value]
    return ErrorRate(expression, len(alerting), ratio=max(values) if values else None, limit=limit)


def observe(
    target: Target,
    *,
    api: ApiProbe,
    platform: PlatformReads | None,
    platform_reason: str = "",
    prometheus: PrometheusProbe | None = None,
    rules_file: Path = DEFAULT_RULES_FILE,
    history: bool = False,
    only: Collection[str] | None = None,
    deadline: float = LOOK_DEADLINE_SECONDS,
) -> Observations:
    """Read everything at once; reads the target lacks access for are skipped with the reason.

    With ``history`` (triage) the API's logs (``--tail=100``, current and ``--previous``), every
    event the platform still keeps and the Deployment's rollout are read in the same look. The pager
    (Alertmanager and the receiver) is read whenever the target declares it. Events are not filtered
    here: what a window leaves out is for the judge to count and mention, not for the reader to drop.
    ``only`` names the reads to make (fields of :class:`Observations`); the others are not made and
    say so (the synthetic monitor reads what its steps judge, no exec and no stats). A read that has
    not ended ``deadline`` seconds after the look began is a :class:`NoAnswerInTime` error: seen as
    unknown, never as an answer."""
    reads: dict[str, Callable[[], object]] = {
        "live": api.live,
        "ready": api.ready,
    }
    skipped: dict[str, str] = {}
    if target.token is None:
        skipped["activities"] = f"no bearer token: ${target.token_env} is not set"
    else:
        reads["activities"] = api.activities
    for name, url, read in (
        ("alertmanager", target.alertmanager_url, alertmanager_status),
        ("alert_receiver", target.alert_receiver_url, receiver_deliveries),
    ):
        if url:
            reads[name] = functools.partial(read, api, url)
        else:
            skipped[name] = f"target {target.name!r} declares no {name}_url"
    if target.metrics_url:
        reads["metrics"] = api.metrics
    else:
        skipped["metrics"] = f"target {target.name!r} has no metrics_url"
    if prometheus is not None:
        reads["error_rate"] = lambda: _error_rate(prometheus, rules_file)
        reads["alerts"] = prometheus.alerts
    else:
        skipped["error_rate"] = skipped["alerts"] = f"target {target.name!r} has no prometheus_url"
    platform_reads = ("api_workloads", "database_workloads", "pg_isready", "usage", "network")
    if platform is not None:
        reads.update(
            api_workloads=platform.api_workloads,
            database_workloads=platform.database_workloads,
            pg_isready=platform.pg_isready,
            usage=platform.resource_usage,
            network=platform.network,
        )
    else:
        skipped.update(dict.fromkeys(platform_reads, platform_reason or "no platform access"))
    if history and platform is not None:
        reads.update(
            api_logs=lambda: platform.api_logs(tail=100),
            previous_logs=lambda: platform.api_logs(tail=100, previous=True),
            events=platform.events,
            api_rollout=platform.rollout_status,
        )
    elif history:
        skipped.update(dict.fromkeys(HISTORY_READS, platform_reason or "no platform access"))

    if only is not None:
        for name in [name for name in reads if name not in only]:
            del reads[name]
            skipped[name] = _NOT_ASKED
    # Platform execs run beside the other reads too: the Kubernetes driver gives each exec a client of
    # its own (see platforms.kubernetes.exec), so nothing here is serialised.
    at = datetime.now(UTC)
    started = time.perf_counter()
    results = _read_all(reads, deadline)
    results.update({name: Observed(skipped=reason) for name, reason in skipped.items()})
    return Observations(
        target=target,
        platform=platform,
        platform_reason=platform_reason,
        wall_seconds=time.perf_counter() - started,
        at=at,
        **results,  # type: ignore[arg-type]
    )


def look(
    target: Target,
    platform: PlatformReads | None = None,
    *,
    platform_reason: str | None = None,
    api: ApiProbe | None = None,
    history: bool = False,
    only: Collection[str] | None = None,
) -> Observations:
    """The one look at a target: every read at once (concurrently), for checks, triage and the game
    day alike. What is not given is opened here and closed again: the target's platform (unless a
    ``platform_reason`` says why there is none: its platform steps are then skipped with the reason),
    its API probe and its Prometheus."""
    access = open_platform(target) if platform is None and platform_reason is None else None
    if access is not None:
        platform, platform_reason = access.platform, access.reason
    prometheus = PrometheusProbe(target.prometheus_url, target=target.name) if target.prometheus_url else None
    try:
        with contextlib.ExitStack() as stack:
            probe = api if api is not None else stack.enter_context(ApiProbe(target))
            return observe(
                target,
                api=probe,
                platform=platform,
                platform_reason=platform_reason or "",
                prometheus=prometheus,
                history=history,
                only=only,
            )
    finally:
        if prometheus is not None:
            prometheus.close()
        if access is not None:
            access.close()
