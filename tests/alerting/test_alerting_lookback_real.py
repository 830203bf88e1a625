"""The fast profile's lookback against a real Prometheus restarted on a vanished target's last sample."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from helpers.prometheus_server import PROMETHEUS, PROMTOOL, backfill, throwaway_prometheus
from offgridflow_runbook.alerting.profiles import FAST_LOOKBACK_DELTA, prometheus_flags, seconds
from offgridflow_runbook.probes.prometheus import PrometheusProbe

pytestmark = pytest.mark.integration

DOWN = 'up{job="postgres"} == 0'


def down_after_a_restart(directory: Path, flags: list[str], last_scraped_ago: float) -> list[object]:
    """What ``up{job="postgres"} == 0`` answers from a Prometheus started on a TSDB whose last sample
    of the database's target is a failed scrape ``last_scraped_ago`` seconds ago, with no staleness
    marker after it: what a Prometheus killed with its node leaves, the target gone with the node."""
    now = int(time.time())
    series = 'up{job="postgres",instance="10.244.0.181:9187"}'
    backfill(directory, ["# TYPE up gauge", f"{series} 0 {now - last_scraped_ago}"])
    (directory / "prometheus.yml").write_text("global: {scrape_interval: 2s, evaluation_interval: 2s}\n")
    loaded = f"count_over_time(up[5m] @ {now})"
    with (
        throwaway_prometheus(directory, loaded, "the backfilled block loaded", flags) as url,
        PrometheusProbe(url) as probe,
    ):
        return list(probe.query(DOWN))


def test_a_restarted_fast_prometheus_forgets_a_vanished_targets_failed_scrape_after_its_lookback(
    tmp_path: Path,
) -> None:
    if PROMETHEUS is None or PROMTOOL is None:
        pytest.skip("prometheus/promtool not found (apt-get install prometheus)")
    # past the fast lookback, well inside Prometheus' default 5 minutes
    ago = seconds(FAST_LOOKBACK_DELTA) + 15
    (tmp_path / "production").mkdir()
    (tmp_path / "fast").mkdir()
    # the production profile keeps Prometheus' default: the old address is still down (and pages)
    assert len(down_after_a_restart(tmp_path / "production", prometheus_flags("production"), ago)) == 1
    assert down_after_a_restart(tmp_path / "fast", prometheus_flags("fast"), ago) == []


def test_within_its_lookback_the_fast_prometheus_still_sees_the_last_sample(tmp_path: Path) -> None:
    # the edge from the other side: a scrape late by less than the lookback is not a missing series
    if PROMETHEUS is None or PROMTOOL is None:
        pytest.skip("prometheus/promtool not found (apt-get install prometheus)")
    ago = seconds(FAST_LOOKBACK_DELTA) - 20
    assert len(down_after_a_restart(tmp_path, prometheus_flags("fast"), ago)) == 1
