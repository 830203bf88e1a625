"""Prometheus reads: instant queries, alert states, and the runbook's error-rate expression.

The error-rate check evaluates the very expression of the ``OffGridFlowAPIHighErrorRate`` alert,
read from ``deploy/prometheus/rules/offgridflow.rules.yml``, so a check and the alert can never
disagree about what "error rate above 1%" means.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from offgridflow_runbook.files import read_user_text
from offgridflow_runbook.probes.http import ProbeError, classify_transport_error, http_client

__all__ = [
    "DEFAULT_RULES_FILE",
    "ERROR_RATE_ALERT",
    "RULES_FILE_ENV",
    "RUNBOOK_ALERTS",
    "Alert",
    "PrometheusProbe",
    "Sample",
    "alert_expression",
    "strip_threshold",
]

ERROR_RATE_ALERT = "OffGridFlowAPIHighErrorRate"
# The runbook's alerts and the pages added for the failure modes it names that the API-down alert
# misses (deploy/prometheus/rules; tests/deploy keeps the two lists equal).
RUNBOOK_ALERTS = (
    "OffGridFlowAPIDown",
    "PostgreSQLDown",
    "PodCrashLooping",
    ERROR_RATE_ALERT,
    "OffGridFlowAPIOOMKilled",
    "OffGridFlowAPIImagePullFailing",
    "OffGridFlowAPIRolloutStuck",
    "OffGridFlowAPINoEndpoints",
)
# $OFFGRIDFLOW_RULES_FILE where the suite runs from an image without the checkout (the synthetic monitor's)
RULES_FILE_ENV = "OFFGRIDFLOW_RULES_FILE"
DEFAULT_RULES_FILE = Path(
    os.environ.get(RULES_FILE_ENV)
    or Path(__file__).resolve().parents[3] / "deploy/prometheus/rules/offgridflow.rules.yml"
)

# libyaml's parser when PyYAML has it: every look reads the rules file, ~15 ms in pure Python.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# ``<ratio expression> > 0.01`` -> the ratio alone, to report the current value next to the verdict.
_THRESHOLD = re.compile(r"^\s*(?P<ratio>.+?)\s*>=?\s*(?P<limit>[0-9.eE+-]+)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Sample:
    """One series of an instant-query result."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class Alert:
    """An alert as Prometheus evaluates it right now (``/api/v1/alerts``)."""

    name: str
    state: str  # "pending" or "firing" ("inactive" alerts are not listed by Prometheus)
    active_at: datetime | None
    labels: dict[str, str]


def alert_expression(alert: str = ERROR_RATE_ALERT, rules_file: Path | str = DEFAULT_RULES_FILE) -> str:
    """The ``expr`` of ``alert`` in the rules file (one string, as the rule file defines it)."""
    path = Path(rules_file)
    try:
        document = yaml.load(read_user_text(path), Loader=_SAFE_LOADER)  # noqa: S506 (safe)
    except FileNotFoundError:
        raise LookupError(f"rules file {path} not found; cannot take the {alert} expression") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else f"not UTF-8 text (byte {error.start})"
        raise LookupError(
            f"rules file {path} cannot be read ({reason}); cannot take the {alert} expression"
        ) from None
    for group in (document or {}).get("groups", []):
        for rule in group.get("rules", []):
            if rule.get("alert") == alert:
                return str(rule["expr"]).strip()
    raise LookupError(f"alert {alert} is not defined in {path}")


def _wraps_whole(expression: str) -> bool:
    """True when the outer parentheses enclose the whole expression: ``(a / b)`` but not ``(a) / (b)``."""
    if not (expression.startswith("(") and expression.endswith(")")):
        return False
    depth = 0
    for index, char in enumerate(expression):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and index < len(expression) - 1:
            return False
    return True


def strip_threshold(expression: str) -> tuple[str, float] | None:
    """Split ``ratio > limit`` into the ratio expression and the limit; None if it has another shape."""
    match = _THRESHOLD.match(expression)
    if match is None:
        return None
    ratio = match["ratio"].strip()
    if ratio.count("(") != ratio.count(")"):
        return None
    while _wraps_whole(ratio):
        ratio = ratio[1:-1].strip()
    try:
        return ratio, float(match["limit"])
    except ValueError:
        return None


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class PrometheusProbe:
    """Reads one Prometheus server's HTTP API."""

    def __init__(
        self,
        url: str,
        *,
        target: str = "prometheus",
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.target = target
        self._client = http_client(timeout=timeout, transport=transport)

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = f"{self.url}{path}"
        try:
            response = self._client.get(url, params=params)
        except httpx.TransportError as error:
            raise classify_transport_error(self.target, url, error) from None
        if response.status_code != 200:
            raise ProbeError(self.target, url, f"Prometheus answered HTTP {response.status_code}")
        body = response.json()
        if body.get("status") != "success":
            raise ProbeError(self.target, url, f"Prometheus error: {body.get('error', body)}")
        return body["data"]

    def query(self, expression: str, at: float | None = None) -> list[Sample]:
        """An instant query (now, or at the Unix time ``at``); an empty list when nothing matches."""
        params = {"query": expression} if at is None else {"query": expression, "time": f"{at:.3f}"}
        data = self._get("/api/v1/query", params)
        if data.get("resultType") == "scalar":
            return [Sample(labels={}, value=float(data["result"][1]))]
        return [Sample(labels=dict(item["metric"]), value=float(item["value"][1])) for item in data["result"]]

    def samples(self, selector: str, start: float, end: float) -> list[dict[str, Any]]:
        """The samples a series selector's series really have between ``start`` and ``end``, shaped
        as a range query's result (``metric`` and ``values``).

        A range query fills each step with the newest sample of the last 5 minutes, so a series that
        stopped without a staleness marker (Prometheus restarted while an alert fired) seems to go on
        for 5 minutes. A range-vector selector gives only the samples written."""
        window = max(1, int(end - start + 0.999))
        params = {"query": f"{selector}[{window}s]", "time": f"{end:.3f}"}
        series = self._get("/api/v1/query", params).get("result", [])
        return [
            {"metric": item["metric"], "values": [v for v in item["values"] if float(v[0]) >= start]}
            for item in series
        ]

    def config_yaml(self) -> str:
        """The configuration Prometheus runs with (``/api/v1/status/config``)."""
        return str(self._get("/api/v1/status/config").get("yaml", ""))

    def alerting_rules(self) -> list[dict[str, Any]]:
        """Every alerting rule Prometheus evaluates, with its ``duration`` (the rule's ``for``)."""
        groups = self._get("/api/v1/rules", {"type": "alert"}).get("groups", [])
        return [rule for group in groups for rule in group.get("rules", []) if rule.get("type") == "alerting"]

    def targets_not_up(self) -> list[str]:
        """The active scrape targets not (yet) scraped healthy, as ``job instance: health (last
        error)``; [] when every one is up (a Prometheus that has just started has none up yet)."""
        active = self._get("/api/v1/targets", {"state": "active"}).get("activeTargets", [])
        return [
            f"{t.get('labels', {}).get('job', '?')} {t.get('labels', {}).get('instance', '?')}: "
            f"{t.get('health', '?')}{f' ({error})' if (error := t.get('lastError')) else ''}"
            for t in active
            if t.get("health") != "up"
        ]

    def alerts(self) -> list[Alert]:
        """Every pending or firing alert."""
        data = self._get("/api/v1/alerts")
        return [
            Alert(
                name=item["labels"].get("alertname", "?"),
                state=item.get("state", "?"),
                active_at=_parse_time(item.get("activeAt")),
                labels=dict(item["labels"]),
            )
            for item in data.get("alerts", [])
        ]

    def runbook_alerts_active(self) -> list[str]:
        """The runbook's alerts pending or firing now, as ``name (state)``, sorted."""
        return sorted({f"{a.name} ({a.state})" for a in self.alerts() if a.name in RUNBOOK_ALERTS})

    def not_quiet(self) -> list[str]:
        """What keeps the monitoring from quiet now: the scrape targets not up, as ``target job
        instance: health``, or else the runbook's alerts pending or firing ([] when quiet)."""
        down = [f"target {line}" for line in self.targets_not_up()]
        return down or self.runbook_alerts_active()

    def alert_state(self, name: str) -> tuple[str, datetime | None]:
        """``("inactive" | "pending" | "firing", activeAt)`` of one alert (firing wins over pending)."""
        states = [alert for alert in self.alerts() if alert.name == name]
        for state in ("firing", "pending"):
            for alert in states:
                if alert.state == state:
                    return state, alert.active_at
        return "inactive", None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrometheusProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
