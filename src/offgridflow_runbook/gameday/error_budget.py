"""The error budget an experiment burned: failed requests against the runbook's SLO, from Prometheus.

The SLO is Verification 5's ``Error rate < 1%`` (:attr:`Runbook.error_rate_limit`): 99% of requests
succeed, so 1% of the requests of a window may fail. Over the experiment's window (the fault to
Verification 1-5 passing, or to the end of the run when it never passed) Prometheus' ``increase()`` of
the API's request counter gives the requests and the failed (5xx) ones, and

    burned = failed / (allowed failure share x requests)     (1.0: the whole budget of the window)

The counter's two selectors (all requests, the 5xx ones; health probes left out) are those of the
``OffGridFlowAPIHighErrorRate`` alert, read from the rules file, so the budget and the alert always
count the same requests. What the scorecard says is one of:

- ``measured``: the requests, the failed ones and the share of the budget burned;
- ``no traffic``: the counter was read and counted no request in the window (nothing was burned
  because nothing was asked: not "0% burned");
- ``unknown``: Prometheus could not be read, or had no samples of the counter in the window; never 0.

A 5xx series born inside the window (the first 5xx after the API restarted) loses the count of its
first scrape to ``increase()``, so on such a run the failed figure can err low.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offgridflow_runbook.probes.http import ProbeError
from offgridflow_runbook.probes.prometheus import (
    DEFAULT_RULES_FILE,
    ERROR_RATE_ALERT,
    PrometheusProbe,
    alert_expression,
    strip_threshold,
)
from offgridflow_runbook.runbook import Runbook, RunbookError, load_runbook

__all__ = [
    "MEASURED",
    "NOT_MEASURED",
    "NO_TRAFFIC",
    "UNKNOWN",
    "VERIFIED",
    "ErrorBudget",
    "budget_burned",
    "budget_line",
    "error_budget",
    "experiment_error_budget",
    "request_selectors",
]

MEASURED, NO_TRAFFIC, UNKNOWN = "measured", "no traffic", "unknown"
VERIFIED = "Verification 1-5 passing"
# ``rate(<selector>[5m])`` in the alert's ratio: the numerator's selector (5xx), then the denominator's
_RATE = re.compile(r"\brate\(\s*(?P<selector>[^\[\]]+?)\s*\[[^\]]+\]\s*\)")


@dataclass(frozen=True)
class ErrorBudget:
    """What one experiment burned of the error budget (see the module's docstring)."""

    status: str  # MEASURED, NO_TRAFFIC or UNKNOWN
    allowed: float | None  # the share of requests that may fail (Verification 5), None: unread
    start: float | None  # the window, Unix seconds: the fault...
    end: float | None  # ...to Verification 1-5 passing (or the end of the run)
    requests: float | None = None
    failed: float | None = None
    why: str = ""  # for UNKNOWN and NO_TRAFFIC: what was (not) read
    until: str = VERIFIED  # what ended the window

    @property
    def burned(self) -> float | None:
        """The share of the window's budget burned (None unless measured)."""
        if self.status != MEASURED or not self.allowed or not self.requests or self.failed is None:
            return None
        return self.failed / (self.allowed * self.requests)

    def as_dict(self) -> dict[str, Any]:
        burned = self.burned
        return {
            "status": self.status,
            "slo": None if self.allowed is None else round(1 - self.allowed, 6),
            "allowed_failure_share": self.allowed,
            "window_s": None if self.start is None or self.end is None else round(self.end - self.start, 2),
            "requests": _round(self.requests),
            "failed": _round(self.failed),
            "burned": None if burned is None else round(burned, 4),
            "until": self.until,
            "why": self.why,
        }


NOT_MEASURED = ErrorBudget(UNKNOWN, None, None, None, why="not measured")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def budget_line(budget: dict[str, Any] | None) -> str:
    """The scorecard's line for an error budget (:meth:`ErrorBudget.as_dict`; None: not measured)."""
    if not budget or budget.get("status") not in (MEASURED, NO_TRAFFIC):
        why = (budget or {}).get("why") or "not measured"
        return f"unknown ({why})"
    slo = f"SLO {100 * budget['slo']:g}% of requests succeed"
    until = budget.get("until") or VERIFIED
    if budget["status"] == NO_TRAFFIC:
        return f"no traffic from the fault to {until} ({slo}; nothing burned, nothing asked)"
    allowed = budget["allowed_failure_share"] * budget["requests"]
    return (
        f"{100 * budget['burned']:.1f}% burned: {budget['failed']:.0f} of {budget['requests']:.0f} requests "
        f"failed (5xx) in the {budget['window_s']:.0f} s from the fault to {until}, {allowed:.1f} allowed "
        f"({slo}; counted by the API itself, as the error-rate alert counts: requests that never reached "
        f"it, refused in front of it, are not in it)"
    )


def budget_burned(budget: dict[str, Any] | None) -> str:
    """The short form, for a table cell: the share burned, ``no traffic`` or ``unknown``."""
    if budget and budget.get("status") == MEASURED and budget.get("burned") is not None:
        return f"{100 * budget['burned']:.1f}%"
    return NO_TRAFFIC if budget and budget.get("status") == NO_TRAFFIC else UNKNOWN


def request_selectors(rules_file: Path | str = DEFAULT_RULES_FILE) -> tuple[str, str]:
    """The failed (5xx) and all requests' selectors of the error-rate alert (LookupError: another shape)."""
    expression = alert_expression(ERROR_RATE_ALERT, rules_file)
    split = strip_threshold(expression)
    selectors = _RATE.findall(split[0]) if split else []
    if len(selectors) != 2:
        raise LookupError(
            f"{ERROR_RATE_ALERT} in {rules_file} is not rate(<5xx>) / rate(<all>): {expression}"
        )
    return selectors[0], selectors[1]


def error_budget(
    prometheus_url: str | None,
    start: float | None,
    end: float | None,
    *,
    until: str = VERIFIED,
    runbook: Runbook | None = None,
    rules_file: Path | str = DEFAULT_RULES_FILE,
    timeout: float = 5.0,
) -> ErrorBudget:
    """What the window ``start`` (the fault) .. ``end`` (``until``: Verification passing) burned of
    the error budget, read from ``prometheus_url``, against ``runbook``'s Verification 5 (None: the
    project's runbook). Never raises: what could not be read is UNKNOWN with the reason."""
    try:
        allowed: float | None = (runbook or load_runbook()).error_rate_limit
    except RunbookError as error:
        return ErrorBudget(UNKNOWN, None, start, end, why=str(error), until=until)

    def unknown(why: str) -> ErrorBudget:
        return ErrorBudget(UNKNOWN, allowed, start, end, why=why, until=until)

    if not prometheus_url:
        return unknown("the target has no Prometheus")
    if start is None or end is None or end <= start:
        return unknown(
            "no window: the fault was never applied" if start is None else "no window after the fault"
        )
    try:
        failed_selector, all_selector = request_selectors(rules_file)
    except LookupError as error:
        return unknown(str(error))
    window = f"[{max(1, math.ceil(end - start))}s]"
    try:
        with PrometheusProbe(prometheus_url, timeout=timeout) as prometheus:
            requests = prometheus.query(f"sum(increase({all_selector}{window}))", at=end)
            failed = prometheus.query(f"sum(increase({failed_selector}{window}))", at=end)
    except ProbeError as error:
        return unknown(f"Prometheus could not be read: {error}")
    if not requests:
        return unknown(f"Prometheus has no samples of {all_selector} in the window")
    total = requests[0].value
    if total <= 0:
        why = f"{all_selector} did not increase"
        return ErrorBudget(NO_TRAFFIC, allowed, start, end, 0.0, 0.0, why=why, until=until)
    # the 5xx series exist only once a 5xx was counted: none in the window while the requests were
    # scraped means none failed
    return ErrorBudget(MEASURED, allowed, start, end, total, failed[0].value if failed else 0.0, until=until)


def experiment_error_budget(
    prometheus_url: str | None,
    fault_at: float | None,
    verified_at: float | None,
    ended_at: float | None,
    *,
    ended: str = "the end of the run",
    runbook: Runbook | None = None,
) -> ErrorBudget:
    """An experiment's error budget (automated or operator game day): the fault to Verification 1-5
    passing, or, never verified, to ``ended_at`` (``ended`` says what that was)."""
    if verified_at is not None:
        return error_budget(prometheus_url, fault_at, verified_at, until=VERIFIED, runbook=runbook)
    until = f"{ended} (never verified)"
    return error_budget(prometheus_url, fault_at, ended_at, until=until, runbook=runbook)
