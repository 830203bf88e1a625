"""Alert history from Prometheus itself: the ``ALERTS`` series says when each alert was pending,
firing and gone, so the scorecard does not depend on a probe having polled at the right moment."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from offgridflow_runbook.probes.http import ProbeError
from offgridflow_runbook.probes.prometheus import RUNBOOK_ALERTS, PrometheusProbe

__all__ = [
    "QUIET_DEADLINE_S",
    "AlertTimeline",
    "AlertTiming",
    "alert_history",
    "alert_timing",
    "not_quiet",
    "still_alerting",
    "timelines_from_series",
    "wait_for_quiet",
]

# How long a game day waits, before a fault, for the runbook's alerts that an earlier fault (or test)
# left pending or firing to resolve: PodCrashLooping's own resolution takes a minute, PostgreSQLDown's
# a scrape and an evaluation; five minutes bounds a stuck one.
QUIET_DEADLINE_S = 300.0


@dataclass(frozen=True)
class AlertTimeline:
    """One alert during one experiment (Unix times; None when it never reached that state)."""

    name: str
    pending_at: float | None = None
    firing_at: float | None = None
    resolved_at: float | None = None

    @property
    def fired(self) -> bool:
        return self.firing_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pending_at": self.pending_at,
            "firing_at": self.firing_at,
            "resolved_at": self.resolved_at,
        }


@dataclass(frozen=True)
class AlertTiming:
    """How fast Prometheus can possibly alert, and the intervals that make it slower.

    The floor is each rule's ``for`` alone: a scrape can fall right after the fault and an
    evaluation right after that scrape, so the scrape and evaluation intervals add *up to* their
    length, never a fixed amount; only ``for`` cannot be shortened. (The floor used to add both
    intervals in full, which a lucky scrape beat: pages were scored 0.02 s to 0.94 s "below the
    floor".) A page or a firing faster than its floor means a timestamp is wrong."""

    scrape_interval_s: float
    evaluation_interval_s: float
    for_s: dict[str, float]

    def floor_s(self, alert: str) -> float:
        """The least time from a fault to ``alert`` firing (and so to its page): the rule's ``for``."""
        return self.for_s.get(alert, 0.0)

    def ceiling_s(self, alert: str) -> float:
        """The most a healthy pipeline adds to the floor before the alert fires: one scrape and one
        evaluation interval on top of ``for``."""
        return self.scrape_interval_s + self.evaluation_interval_s + self.floor_s(alert)

    @property
    def profile(self) -> str:
        """``fast`` when the rules' ``for`` values are shortened (the local game day), else ``production``."""
        down = self.for_s.get("OffGridFlowAPIDown")
        return "fast" if down is not None and down < 60 else "production"


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float:
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * _UNITS[unit]
    return 0.0


def alert_timing(prometheus_url: str, *, timeout: float = 5.0) -> AlertTiming:
    """Read the intervals and each alert's ``for`` from the running Prometheus."""
    with PrometheusProbe(prometheus_url, timeout=timeout) as prometheus:
        config_yaml = prometheus.config_yaml()
        rules = prometheus.alerting_rules()
    config = yaml.safe_load(config_yaml) or {}
    defaults = config.get("global") or {}
    scrape = _duration(str(defaults.get("scrape_interval", "1m")))
    evaluation = _duration(str(defaults.get("evaluation_interval", "1m")))
    jobs = [
        _duration(str(job["scrape_interval"]))
        for job in config.get("scrape_configs") or []
        if job.get("scrape_interval")
    ]
    scrape = max([scrape, *jobs]) if jobs else scrape
    for_s = {str(rule["name"]): float(rule.get("duration", 0.0)) for rule in rules}
    return AlertTiming(scrape, evaluation, for_s)


def timelines_from_series(
    series: list[dict[str, Any]], *, names: tuple[str, ...], step: float, end: float
) -> list[AlertTimeline]:
    """Turn ``ALERTS`` range-query series into timelines: one per alert and episode.

    An episode is a run of pending/firing samples without a gap of more than one step, so an alert
    that was pending during a rollout before the fault and fires after it gives two timelines, and
    the one before the fault is not mistaken for this fault's detection. ``resolved_at`` is the first
    step after an episode's last sample, when that is before ``end``."""
    samples: dict[str, list[tuple[float, str]]] = {}
    for item in series:
        labels = item.get("metric", {})
        name, state = labels.get("alertname"), labels.get("alertstate")
        if name not in names or state not in ("pending", "firing"):
            continue
        samples.setdefault(name, []).extend((float(point[0]), state) for point in item.get("values", []))
    timelines = []
    for name in names:
        episode: list[tuple[float, str]] = []
        for at, state in [*sorted(samples.get(name, [])), (float("inf"), "")]:
            if episode and at - episode[-1][0] > step * 1.5:
                timelines.append(_episode(name, episode, step=step, end=end))
                episode = []
            episode.append((at, state))
        if not samples.get(name):
            timelines.append(AlertTimeline(name))
    return timelines


def _episode(name: str, samples: list[tuple[float, str]], *, step: float, end: float) -> AlertTimeline:
    pending = [at for at, state in samples if state == "pending"]
    firing = [at for at, state in samples if state == "firing"]
    last = samples[-1][0]
    return AlertTimeline(
        name,
        pending_at=pending[0] if pending else None,
        firing_at=firing[0] if firing else None,
        resolved_at=last + step if last + step <= end else None,
    )


# How far before a history's window its samples are read, so an episode already running when the
# window opens keeps its real beginning (PodCrashLooping's 5-minute `for` plus its 10-minute window)
HISTORY_LOOKBACK_S = 900.0


def alert_history(
    prometheus_url: str,
    start: float,
    end: float,
    *,
    names: tuple[str, ...] = RUNBOOK_ALERTS,
    step: float = 1.0,
    timeout: float = 10.0,
    lookback: float = HISTORY_LOOKBACK_S,
) -> list[AlertTimeline]:
    """Each runbook alert's pending/firing/resolved times between ``start`` and ``end`` (Unix times).

    An episode that began before ``start`` and was still on at ``start`` keeps its real beginning
    (read up to ``lookback`` s earlier): clipped at ``start`` it would look as if it began in the
    window, and a game day would count an alert that resolved as its fault began as the fault's.
    Episodes that ended before ``start`` are left out."""
    with PrometheusProbe(prometheus_url, timeout=timeout) as prometheus:
        # the samples the rule evaluations wrote, not a range query's 5-minute lookback: an alert
        # left firing by a Prometheus restart before the fault would otherwise seem to span it
        series = prometheus.samples("ALERTS", start - lookback, end)
    timelines = timelines_from_series(series, names=names, step=step, end=end)
    kept = [t for t in timelines if t.resolved_at is None or t.resolved_at > start]
    return [
        timeline
        for name in names
        for timeline in ([t for t in kept if t.name == name] or [AlertTimeline(name)])
    ]


def still_alerting(prometheus_url: str, *, timeout: float = 5.0) -> list[str]:
    """The runbook's alerts pending or firing now, as ``name (state)``; ProbeError when Prometheus
    cannot be read (could not look is not quiet)."""
    with PrometheusProbe(prometheus_url, timeout=timeout) as prometheus:
        return prometheus.runbook_alerts_active()


def not_quiet(prometheus_url: str, *, timeout: float = 5.0) -> list[str]:
    """What keeps the target from a quiet steady state now: scrape targets not up (the monitoring is
    blind to what they export, so a fault there could not page), then the runbook's alerts pending or
    firing; ProbeError when Prometheus cannot be read."""
    with PrometheusProbe(prometheus_url, timeout=timeout) as prometheus:
        return prometheus.not_quiet()


def wait_for_quiet(
    prometheus_url: str,
    *,
    deadline: float = QUIET_DEADLINE_S,
    interval: float = 2.0,
    say: Callable[[str], None] = print,
    seen: set[str] | None = None,
) -> list[str]:
    """Wait (at most ``deadline`` s) until every scrape target is up and none of the runbook's alerts
    is pending or firing, so a fault's detection is never an earlier fault's alert resolving or firing
    on, and a fault never lands where the monitoring cannot see (a target an earlier fault or a restart
    left down or not yet scraped). Returns what is still down or alerting at the deadline ([] when
    quiet), or the reason Prometheus could not be read; says what it waits for once, and again when
    that changes. ``seen`` collects everything it waited out (what a benchmark of the waits reports)."""
    end = time.monotonic() + deadline
    shown: list[str] | None = None
    while True:
        try:
            alerting = not_quiet(prometheus_url)
        except ProbeError as error:
            alerting = [f"Prometheus not readable: {error}"]
        if seen is not None:
            seen.update(alerting)
        if not alerting:
            return []
        if alerting != shown:
            waiting = ", ".join(alerting)
            say(f"[gameday] waiting for a quiet steady state (at most {deadline:.0f} s): {waiting}")
            shown = alerting
        if time.monotonic() >= end:
            return alerting
        time.sleep(min(interval, max(0.0, end - time.monotonic())))
