"""Verification 5 against a real Prometheus scraping the real API, evaluating the project's rules
file (with `for:` shortened to seconds): the error rate and the alert states the checks report are
the ones Prometheus computes with the `OffGridFlowAPIHighErrorRate` expression itself."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers.prometheus_server import PROMETHEUS, PROMTOOL, backfill, throwaway_prometheus, until
from offgridflow_runbook.gameday.alerts import alert_history, alert_timing
from offgridflow_runbook.probes.prometheus import DEFAULT_RULES_FILE, PrometheusProbe
from offgridflow_runbook.probes.snapshot import look
from offgridflow_runbook.runbook.steps import Outcome, verification_5_alerts, verification_5_error_rate
from offgridflow_runbook.targets import Target

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prometheus_url(api_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if PROMETHEUS is None:
        pytest.skip("prometheus binary not found (apt-get install prometheus)")
    if not DEFAULT_RULES_FILE.exists():
        pytest.skip(f"{DEFAULT_RULES_FILE} not found")
    directory = tmp_path_factory.mktemp("prometheus")
    rules = directory / "rules.yml"
    rules.write_text(re.sub(r"for: \d+[smh]", "for: 2s", DEFAULT_RULES_FILE.read_text()))
    config = directory / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: [{rules}]\n"
        "scrape_configs:\n"
        "  - job_name: offgridflow-api\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{api_server.metrics_port}']}}]\n"
    )
    scraped = 'up{job="offgridflow-api"} == 1'
    with throwaway_prometheus(directory, scraped, "the API scraped by Prometheus") as url:
        yield url


def _target(api: Any, prometheus_url: str) -> Target:
    return Target(
        name="prom", platform="none", base_url=api.base_url, metrics_url=api.metrics_url,
        prometheus_url=prometheus_url, token_env="PROM_TEST_UNSET_TOKEN",
    )  # fmt: skip


def test_error_rate_of_a_healthy_api_passes_with_the_rule_expression(
    api_server: Any, prometheus_url: str
) -> None:
    for _ in range(5):
        httpx.get(f"{api_server.base_url}/health/live", timeout=5)
    target = _target(api_server, prometheus_url)
    with PrometheusProbe(prometheus_url) as probe:
        total = 'sum(rate(http_requests_total{job="offgridflow-api"}[5m]))'
        until(lambda: bool(probe.query(total)), 15, "a 5-minute request rate with two samples")
    result = verification_5_error_rate(look(target))
    assert result.outcome is Outcome.PASSED, result
    assert result.message in (
        "error rate 0.00%",
        "error rate without samples (no 5xx responses or no traffic in 5 minutes)",
    )
    assert result.evidence[0].startswith("expression: (sum by (job) (rate(http_requests_total{")


def test_a_firing_runbook_alert_fails_verification_5(api_server: Any, prometheus_url: str) -> None:
    # no postgres exporter is scraped here, so PostgreSQLDown's absent(up{job="postgres"}) fires
    with PrometheusProbe(prometheus_url) as probe:
        until(lambda: probe.alert_state("PostgreSQLDown")[0] == "firing", 20, "PostgreSQLDown firing")
    result = verification_5_alerts(look(_target(api_server, prometheus_url)))
    assert result.outcome is Outcome.FAILED
    assert "PostgreSQLDown" in result.message


def test_5xx_above_one_percent_fails_verification_5_and_fires_the_alert(
    api_server: Any, postgres_server: Any, prometheus_url: str
) -> None:
    postgres_server.stop()
    try:
        # User traffic: /v1 answers 503 while the database is down (health probes do not count).
        auth = {"Authorization": f"Bearer {api_server.token}"}
        for _ in range(20):
            answer = httpx.get(f"{api_server.base_url}/v1/activities?limit=1", headers=auth, timeout=5)
            assert answer.status_code == 503
    finally:
        postgres_server.start()
    target = _target(api_server, prometheus_url)

    def failing() -> bool:
        return verification_5_error_rate(look(target)).failed

    until(failing, 15, "the error rate above 1% in Prometheus")
    result = verification_5_error_rate(look(target))
    assert re.fullmatch(r"error rate \d+\.\d\d% is above the alert limit", result.message), result.message
    with PrometheusProbe(prometheus_url) as probe:
        until(
            lambda: probe.alert_state("OffGridFlowAPIHighErrorRate")[0] == "firing",
            20,
            "OffGridFlowAPIHighErrorRate firing",
        )
    api_server.wait_ready()


def test_the_game_days_alert_timing_is_read_from_the_running_prometheus(prometheus_url: str) -> None:
    timing = alert_timing(prometheus_url)
    assert (timing.scrape_interval_s, timing.evaluation_interval_s) == (1.0, 1.0)
    # every rule's `for` was rewritten to 2s above: what Prometheus evaluates is what the floor uses
    assert timing.for_s["OffGridFlowAPIDown"] == 2.0
    # the floor is the rule's own `for`; a healthy pipeline adds at most one scrape and one evaluation
    assert timing.floor_s("OffGridFlowAPIDown") == 2.0
    assert timing.ceiling_s("OffGridFlowAPIDown") == 4.0
    assert timing.profile == "fast"
    now = time.time()
    history = alert_history(prometheus_url, now - 120, now)
    assert all(timeline.name in timing.for_s for timeline in history)


def test_alert_history_ignores_an_alert_that_stopped_without_a_staleness_marker(tmp_path: Path) -> None:
    # A Prometheus restarted while PostgreSQLDown fired leaves its last ALERTS sample without a
    # staleness marker; a range query repeats it for 5 minutes, so a game day once scored a page
    # 6 s after its fault as "already firing before the fault". The history must be the samples the
    # rule evaluations wrote: here one old episode (ended before the window) and one in the window.
    if PROMETHEUS is None or PROMTOOL is None:
        pytest.skip("prometheus/promtool not found (apt-get install prometheus)")
    now = int(time.time())
    series = 'ALERTS{alertname="PostgreSQLDown",alertstate="firing"}'
    old = [f"{series} 1 {now - s}" for s in range(60, 49, -1)]
    recent = [f"{series} 1 {now - s}" for s in range(20, 9, -1)]
    backfill(tmp_path, ["# TYPE ALERTS gauge", *old, *recent])
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n")
    loaded = f"count_over_time(ALERTS[2m] @ {now})"
    with throwaway_prometheus(tmp_path, loaded, "the backfilled block loaded") as url:
        history = alert_history(url, now - 40, now + 5, names=("PostgreSQLDown",))
    assert [(t.firing_at, t.resolved_at) for t in history] == [(now - 20, now - 9)]


def test_an_alert_still_firing_when_the_window_opens_keeps_its_real_beginning(tmp_path: Path) -> None:
    # A game day's history window opened as PodCrashLooping (firing since well before) resolved; read
    # from the window's start only, the episode seemed to begin in the window and was scored as the
    # fault's. Its samples before the window say when it began; an episode over before it is left out.
    if PROMETHEUS is None or PROMTOOL is None:
        pytest.skip("prometheus/promtool not found (apt-get install prometheus)")
    now = int(time.time())
    series = 'ALERTS{alertname="PodCrashLooping",alertstate="firing"}'
    over = [f"{series} 1 {now - s}" for s in range(200, 189, -1)]
    running = [f"{series} 1 {now - s}" for s in range(60, 29, -1)]
    backfill(tmp_path, ["# TYPE ALERTS gauge", *over, *running])
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n")
    loaded = f"count_over_time(ALERTS[5m] @ {now})"
    with throwaway_prometheus(tmp_path, loaded, "the backfilled block loaded") as url:
        history = alert_history(url, now - 40, now + 5, names=("PodCrashLooping", "PostgreSQLDown"))
    assert [(t.name, t.firing_at, t.resolved_at) for t in history] == [
        ("PodCrashLooping", now - 60, now - 29),
        ("PostgreSQLDown", None, None),
    ]
