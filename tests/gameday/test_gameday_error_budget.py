"""The error budget an experiment burned: computed by a real Prometheus (a throw-away one on samples
backfilled with promtool, so the requests of every window are known), and what the scorecard says
when Prometheus cannot tell (unknown, never 0) or nobody asked anything (no traffic)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.prometheus_server import PROMETHEUS, PROMTOOL, backfill, free_port, throwaway_prometheus
from helpers.runbook_copies import edited
from offgridflow_runbook.gameday.error_budget import (
    MEASURED,
    NO_TRAFFIC,
    UNKNOWN,
    ErrorBudget,
    budget_burned,
    budget_line,
    error_budget,
    experiment_error_budget,
    request_selectors,
)
from offgridflow_runbook.runbook import load_runbook, parse_runbook

# the backfilled API: 2 requests/s answered 200 from T0 to T0+200, of which from T0+100 to T0+200 also
# 0.2/s answered 503; the health probe answers 503 at 5/s throughout (not user traffic: never counted);
# after T0+200 no request at all, the counters still scraped until T0+300
T0 = (int(time.time()) // 60) * 60 - 900
STEP = 5
FAULT, FIXED, QUIET_END = T0 + 100, T0 + 200, T0 + 300


def _sample(labels: str, value: float, at: int) -> str:
    return f'http_requests_total{{job="offgridflow-api",{labels}}} {value} {at}'


def _api_lines() -> list[str]:
    ok, failed, health = [], [], []
    for at in range(T0, QUIET_END + 1, STEP):
        busy = min(at, FIXED) - T0
        ok.append(_sample('method="GET",path="/v1/activities",status="200"', 2 * busy, at))
        failed.append(
            _sample(
                'method="GET",path="/v1/activities",status="503"', 0.2 * max(0, min(at, FIXED) - FAULT), at
            )
        )
        health.append(_sample('method="GET",path="/health/ready",status="503"', 5 * (at - T0), at))
    return ["# TYPE http_requests counter", *ok, *failed, *health]


@pytest.fixture(scope="module")
def prometheus_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if PROMETHEUS is None or PROMTOOL is None:
        pytest.skip("prometheus/promtool not found (apt-get install prometheus)")
    directory = tmp_path_factory.mktemp("error-budget-prometheus")
    backfill(directory, _api_lines())
    (directory / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n", encoding="utf-8")
    loaded = f"count_over_time(http_requests_total[10m] @ {QUIET_END})"
    with throwaway_prometheus(directory, loaded, "the backfilled requests loaded") as url:
        yield url


def test_the_counter_is_the_error_rate_alerts() -> None:
    failed, every = request_selectors()
    assert failed.startswith("http_requests_total{")
    assert 'status=~"5.."' in failed
    assert every.startswith("http_requests_total{")
    assert "status" not in every
    assert 'path!~"/health/.*"' in failed
    assert 'path!~"/health/.*"' in every


@pytest.mark.integration
def test_the_fault_to_verification_window_burns_failed_over_allowed(prometheus_url: str) -> None:
    budget = error_budget(prometheus_url, FAULT, FIXED)
    assert budget.status == MEASURED
    assert budget.allowed == pytest.approx(load_runbook().error_rate_limit)
    # 100 s of 2.2 requests/s, 0.2/s of them 5xx; the health probe's 503s are not counted
    assert budget.requests == pytest.approx(220, rel=0.06)
    assert budget.failed == pytest.approx(20, rel=0.06)
    assert budget.burned == pytest.approx(20 / (0.01 * 220), rel=0.1)
    shown = budget.as_dict()
    assert (shown["status"], shown["slo"], shown["window_s"]) == (MEASURED, 0.99, 100.0)
    assert budget_line(shown).startswith(f"{100 * shown['burned']:.1f}% burned: 20 of 220 requests failed")
    assert budget_burned(shown) == f"{100 * shown['burned']:.1f}%"


@pytest.mark.integration
def test_a_window_without_5xx_burns_nothing_measured(prometheus_url: str) -> None:
    budget = error_budget(prometheus_url, T0 + 20, FAULT - 10)
    assert budget.status == MEASURED
    assert budget.requests == pytest.approx(140, rel=0.06)
    assert (budget.failed, budget.burned) == (0.0, 0.0)


@pytest.mark.integration
def test_a_window_without_requests_is_no_traffic_not_zero_burned(prometheus_url: str) -> None:
    budget = error_budget(prometheus_url, FIXED + 20, QUIET_END)
    assert budget.status == NO_TRAFFIC
    assert budget.burned is None
    assert budget.as_dict()["burned"] is None
    assert budget_line(budget.as_dict()).startswith("no traffic from the fault to Verification 1-5 passing")
    assert budget_burned(budget.as_dict()) == "no traffic"


@pytest.mark.integration
def test_a_window_prometheus_has_no_samples_of_is_unknown(prometheus_url: str) -> None:
    budget = error_budget(prometheus_url, T0 - 3000, T0 - 2000)
    assert budget.status == UNKNOWN
    assert "no samples of http_requests_total" in budget.why
    assert budget.burned is None


def test_a_prometheus_that_cannot_be_read_is_unknown() -> None:
    budget = error_budget(f"http://127.0.0.1:{free_port()}", FAULT, FIXED, timeout=2)
    assert budget.status == UNKNOWN
    assert budget.why.startswith("Prometheus could not be read")
    assert budget_line(budget.as_dict()).startswith("unknown (Prometheus could not be read")


@pytest.mark.parametrize(
    ("url", "start", "end", "why"),
    [
        (None, FAULT, FIXED, "the target has no Prometheus"),
        ("http://127.0.0.1:9", None, FIXED, "no window: the fault was never applied"),
        ("http://127.0.0.1:9", FAULT, FAULT, "no window after the fault"),
    ],
)
def test_no_prometheus_or_no_window_is_unknown(url: str | None, start: Any, end: Any, why: str) -> None:
    budget = error_budget(url, start, end)
    assert (budget.status, budget.why, budget.burned) == (UNKNOWN, why, None)


def test_rules_of_another_shape_are_unknown(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups: [{name: x, rules: [{alert: OffGridFlowAPIHighErrorRate, expr: 'errors_ratio > 0.01'}]}]\n",
        encoding="utf-8",
    )
    budget = error_budget("http://127.0.0.1:9", FAULT, FIXED, rules_file=rules)
    assert budget.status == UNKNOWN
    assert "is not rate(<5xx>) / rate(<all>)" in budget.why


def test_the_line_says_unknown_never_zero() -> None:
    assert budget_line(None) == "unknown (not measured)"
    unknown = ErrorBudget(UNKNOWN, 0.01, FAULT, FIXED, why="Prometheus could not be read: refused")
    assert budget_line(unknown.as_dict()) == "unknown (Prometheus could not be read: refused)"
    assert "0" not in budget_line(unknown.as_dict()).split("(")[0]
    measured = ErrorBudget(MEASURED, 0.01, FAULT, FIXED, requests=1000.0, failed=5.0)
    assert budget_line(measured.as_dict()) == (
        "50.0% burned: 5 of 1000 requests failed (5xx) in the 100 s from the fault to Verification 1-5 "
        "passing, 10.0 allowed (SLO 99% of requests succeed; counted by the API itself, as the error-rate "
        "alert counts: requests that never reached it, refused in front of it, are not in it)"
    )
    assert [budget_burned(b) for b in (None, unknown.as_dict(), measured.as_dict())] == [
        "unknown",
        "unknown",
        "50.0%",
    ]


def test_a_runbook_without_an_error_rate_leaves_the_budget_unknown(tmp_path: Path) -> None:
    runbook = parse_runbook(edited("Error rate < 1%", "Error rate looks fine"), tmp_path / "runbook.md")
    budget = error_budget("http://127.0.0.1:9", FAULT, FIXED, runbook=runbook, until="the abort")
    assert (budget.status, budget.allowed, budget.until) == (UNKNOWN, None, "the abort")
    assert "Verification 5 states no 'Error rate < N%'" in budget.why


@pytest.mark.parametrize(
    ("verified_at", "end", "until"),
    [(FIXED, FIXED, "Verification 1-5 passing"), (None, QUIET_END, "the abort (never verified)")],
    ids=["verified", "never-verified"],
)
def test_an_experiments_window_runs_from_the_fault_to_verification_or_its_end(
    verified_at: float | None, end: float, until: str
) -> None:
    budget = experiment_error_budget(None, FAULT, verified_at, QUIET_END, ended="the abort")
    assert (budget.start, budget.end, budget.until) == (FAULT, end, until)
    assert budget.as_dict()["until"] == until
