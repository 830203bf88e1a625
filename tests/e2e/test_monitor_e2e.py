"""The synthetic monitor on the local stack (its container synthetic-monitor): a fault made by hand,
the API's container stopped, turns offgridflow_synthetic_run_success to 0 within one interval and the
OffGridFlowSyntheticCheckFailing page reaches the alert receiver; started again, the metric is 1 and
the page resolves. The monitor itself lives through it (no restart)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from offgridflow_runbook.alerting.profiles import MONITOR_EVERY, seconds
from offgridflow_runbook.gameday.pages import Page, read_pages
from offgridflow_runbook.platforms.docker.driver import DockerPlatform
from offgridflow_runbook.platforms.docker.names import API, SYNTHETIC_MONITOR, URLS
from offgridflow_runbook.targets import load_target

from .conftest import QUIET_WITHIN_S, wait_until

pytestmark = pytest.mark.e2e

ALERT = "OffGridFlowSyntheticCheckFailing"
EVERY_S = seconds(MONITOR_EVERY["fast"])  # the stack's tests run the fast profile
# a run reads with 5 s timeouts at most; one interval plus that run and a second for the scrape
WITHIN_ONE_INTERVAL_S = EVERY_S + 10
# fast `for` (two runs: alerting.profiles.fast_monitor_for), 1 s evaluations, group_wait, the receiver
PAGE_S = 60
TARGET = load_target("local", Path(__file__).parents[2] / "targets.yaml")


def monitor_metrics() -> str:
    try:
        return httpx.get(URLS[SYNTHETIC_MONITOR], timeout=5).text
    except httpx.HTTPError:
        return ""


def run_success() -> str | None:
    found = re.search(r'^offgridflow_synthetic_run_success\{target="local"\} (\d)$', monitor_metrics(), re.M)
    return found.group(1) if found else None


def firing(alert: str) -> bool:
    alerts = httpx.get(f"{TARGET.prometheus_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return any(a["labels"]["alertname"] == alert and a["state"] == "firing" for a in alerts)


def page_since(since: float) -> Page | None:
    seen = read_pages(TARGET.alert_receiver_url, since=since)
    assert seen.unknown is None, seen.unknown
    return next((page for page in seen.pages if page.alert == ALERT), None)


def resolved_since(since: float) -> bool:
    deliveries: list[dict[str, Any]] = httpx.get(f"{TARGET.alert_receiver_url}/deliveries", timeout=5).json()
    return any(
        alert.get("status") == "resolved" and alert.get("labels", {}).get("alertname") == ALERT
        for delivery in deliveries
        if float(delivery.get("received_at", 0)) >= since
        for alert in (delivery.get("payload") or {}).get("alerts") or []
    )


def test_the_api_stopped_by_hand_pages_through_the_monitor_and_resolves_once_started(
    quiet_api: DockerPlatform, engine: docker.DockerClient
) -> None:
    monitor = engine.containers.get(SYNTHETIC_MONITOR)
    restarts = monitor.attrs["RestartCount"]
    wait_until("the monitor says the stack passes", lambda: run_success() == "1", 2 * WITHIN_ONE_INTERVAL_S)
    wait_until(f"no {ALERT} left from before", lambda: not firing(ALERT), 120)

    stopped_at = time.time()
    engine.containers.get(API).stop(timeout=10)
    try:
        wait_until(
            "run_success is 0 within one interval", lambda: run_success() == "0", WITHIN_ONE_INTERVAL_S
        )
        assert 'step_success{target="local",step="Triage 1"} 0' in monitor_metrics()
        wait_until(f"{ALERT} reaches the receiver", lambda: page_since(stopped_at) is not None, PAGE_S)
        page = page_since(stopped_at)
        assert page is not None
        assert page.receiver == "primary-oncall"
        assert "local" in page.summary
    finally:
        engine.containers.get(API).start()
    quiet_api.wait_rollout(timeout=90)
    started_at = time.time()
    # the API-down page and any restart alert must resolve first (Verification 5 is part of a run)
    wait_until("run_success is 1 again", lambda: run_success() == "1", WITHIN_ONE_INTERVAL_S + QUIET_WITHIN_S)
    wait_until(f"{ALERT} resolves", lambda: not firing(ALERT), 60)
    wait_until("the receiver gets the resolution", lambda: resolved_since(started_at), 120)
    monitor.reload()
    assert monitor.status == "running"
    assert monitor.attrs["RestartCount"] == restarts, "the monitor restarted instead of living through it"
