"""The monitor's state (the last run and its counters) and its Prometheus text exposition.

The metrics follow the blackbox exporter's ``probe_success``: a gauge per runbook step that is 1
when the step passed (or was skipped for want of access) and 0 when it failed. Only the last run is
kept, so memory stays bounded however long the monitor runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from offgridflow_runbook.monitor.checks import RunResult

__all__ = ["CONTENT_TYPE", "METRICS", "PREFIX", "MonitorState", "escape_label"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PREFIX = "offgridflow_synthetic_"


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # gauge or counter
    help: str


METRICS = {
    metric.name: metric
    for metric in (
        Metric(
            "step_success",
            "gauge",
            "1 when the runbook step passed (or was skipped) in the last run, 0 when it failed",
        ),
        Metric(
            "step_skipped",
            "gauge",
            "1 when the target lacks the access the step needs (skipped, counted as success)",
        ),
        Metric("step_duration_seconds", "gauge", "seconds the slowest read of the step took in the last run"),
        Metric("run_success", "gauge", "1 when every runbook step passed in the last run"),
        Metric("run_duration_seconds", "gauge", "seconds the last run took (one look and the judgements)"),
        Metric("last_run_timestamp_seconds", "gauge", "Unix time the last run started"),
        Metric("interval_seconds", "gauge", "the interval the runs are scheduled at"),
        Metric("runs_total", "counter", "runs finished, by result"),
        Metric(
            "runs_delayed_total",
            "counter",
            "runs started late because the previous one outlasted the interval",
        ),
    )
}


def escape_label(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return ",".join(f'{name}="{escape_label(value)}"' for name, value in labels.items())


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


class MonitorState:
    """What the monitor knows: the last run and the counters; safe to read while a run records."""

    def __init__(self, target: str, interval_s: float) -> None:
        self.target = target
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._last: RunResult | None = None
        self._runs = {"success": 0, "failure": 0}
        self._delayed = 0

    def record(self, result: RunResult) -> None:
        with self._lock:
            self._last = result
            self._runs["success" if result.success else "failure"] += 1

    def delayed(self) -> None:
        with self._lock:
            self._delayed += 1

    @property
    def last(self) -> RunResult | None:
        with self._lock:
            return self._last

    def render(self) -> str:
        """The Prometheus text exposition (format 0.0.4) of the last run and the counters."""
        with self._lock:
            last, runs, delayed = self._last, dict(self._runs), self._delayed
        target = _labels(target=self.target)
        samples: dict[str, list[tuple[str, float]]] = {name: [] for name in METRICS}
        samples["interval_seconds"].append((target, self.interval_s))
        samples["runs_total"] += [(_labels(target=self.target, result=r), n) for r, n in runs.items()]
        samples["runs_delayed_total"].append((target, delayed))
        if last is not None:
            for step in last.steps:
                labels = _labels(target=self.target, step=step.step)
                samples["step_success"].append((labels, 1 if step.success else 0))
                samples["step_skipped"].append((labels, 1 if step.skipped else 0))
                samples["step_duration_seconds"].append((labels, step.duration_s))
            samples["run_success"].append((target, 1 if last.success else 0))
            samples["run_duration_seconds"].append((target, last.duration_s))
            samples["last_run_timestamp_seconds"].append((target, last.started_at))
        return "".join(_family(METRICS[name], values) for name, values in samples.items() if values)


def _family(metric: Metric, values: list[tuple[str, float]]) -> str:
    name = PREFIX + metric.name
    lines: Iterator[str] = (f"{name}{{{labels}}} {_number(value)}\n" for labels, value in values)
    return f"# HELP {name} {metric.help}\n# TYPE {name} {metric.kind}\n" + "".join(lines)
