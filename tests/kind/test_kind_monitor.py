"""The synthetic monitor on kind (components/synthetic-monitor in the kind overlay): the API scaled to
zero by hand turns offgridflow_synthetic_run_success to 0 within one interval (seen in the cluster's
Prometheus), OffGridFlowSyntheticCheckFailing reaches the alert receiver; scaled back, it resolves."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from offgridflow_runbook.cli import build_parser
from offgridflow_runbook.gameday.pages import read_pages

pytestmark = pytest.mark.kind

ALERT = "OffGridFlowSyntheticCheckFailing"
MONITOR = "offgridflow-synthetic-monitor"
ROLLOUT_S = 240


def monitor_interval_s(kind_session) -> float:  # type: ignore[no-untyped-def]
    """--every of the monitor's Deployment as the cluster runs it (the alert profile's interval:
    alerting.profiles.MONITOR_EVERY), read from the cluster."""
    shown = kind_session.kubectl(
        "-n", "offgridflow", "get", f"deployment/{MONITOR}", "-o",
        "jsonpath={.spec.template.spec.containers[0].args}",
    )  # fmt: skip
    return float(build_parser().parse_args(json.loads(shown)).every.total_seconds())


@pytest.fixture(scope="module")
def kind_target(kind_session):
    kind_session.kubectl(
        "-n", "offgridflow", "rollout", "status", f"deployment/{MONITOR}", "--timeout=180s", timeout=200
    )
    return kind_session.target(kind_session.settings.config_file.parent / "targets.yaml")


@pytest.fixture(scope="module")
def within_one_interval_s(kind_session) -> float:  # type: ignore[no-untyped-def]
    """One interval, plus the run (5 s read timeouts) and a 2 s scrape of the fast profile."""
    return monitor_interval_s(kind_session) + 15


def until(what: str, condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(1)


def run_success(prometheus_url: str) -> str | None:
    answer = httpx.get(
        f"{prometheus_url}/api/v1/query",
        params={"query": 'offgridflow_synthetic_run_success{job="synthetic-monitor"}'},
        timeout=10,
    ).json()
    results: list[dict[str, Any]] = answer["data"]["result"]
    # Right after a rollout of the monitor (kind-up applying a new interval) the old pod is scraped
    # until it has terminated: its series and the new one's must agree, or there is no answer yet.
    values = {result["value"][1] for result in results}
    return values.pop() if len(values) == 1 else None


def firing(prometheus_url: str) -> bool:
    alerts = httpx.get(f"{prometheus_url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return any(a["labels"]["alertname"] == ALERT and a["state"] == "firing" for a in alerts)


def monitor_restarts(kind_session) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Each monitor pod's name and its container's restart count."""
    shown = kind_session.kubectl(
        "-n", "offgridflow", "get", "pods", "-l", f"app={MONITOR}", "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.status.containerStatuses[0].restartCount} {end}",
    )  # fmt: skip
    return dict(item.split("=", 1) for item in shown.split())


def test_the_api_scaled_to_zero_pages_through_the_monitor_and_resolves_when_scaled_back(
    kind_session, kind_target, within_one_interval_s
):
    prometheus = kind_target.prometheus_url
    until(
        "the monitor says the cluster passes",
        lambda: run_success(prometheus) == "1",
        2 * within_one_interval_s,
    )
    until(f"no {ALERT} left from before", lambda: not firing(prometheus), 180)
    # counted before the outage: restarts from earlier (a node container that came back after an
    # engine restart restarts every pod once) are not this test's
    before = monitor_restarts(kind_session)
    replicas = kind_session.kubectl(
        "-n", "offgridflow", "get", "deployment/offgridflow-api", "-o", "jsonpath={.spec.replicas}"
    ).strip()
    scaled_at = time.time()
    kind_session.kubectl("-n", "offgridflow", "scale", "deployment/offgridflow-api", "--replicas=0")
    try:
        until(
            "run_success is 0 within one interval",
            lambda: run_success(prometheus) == "0",
            within_one_interval_s,
        )

        def paged():  # type: ignore[no-untyped-def]
            seen = read_pages(kind_target.alert_receiver_url, since=scaled_at)
            assert seen.unknown is None, seen.unknown
            return next((page for page in seen.pages if page.alert == ALERT), None)

        until(f"{ALERT} reaches the receiver", lambda: paged() is not None, 90)
        assert paged().receiver == "primary-oncall"
    finally:
        kind_session.kubectl(
            "-n", "offgridflow", "scale", "deployment/offgridflow-api", f"--replicas={replicas or 2}"
        )
        kind_session.kubectl(
            "-n",
            "offgridflow",
            "rollout",
            "status",
            "deployment/offgridflow-api",
            f"--timeout={ROLLOUT_S}s",
            timeout=ROLLOUT_S + 20,
        )
    until("run_success is 1 again", lambda: run_success(prometheus) == "1", within_one_interval_s + 30)
    until(f"{ALERT} resolves", lambda: not firing(prometheus), 90)
    # the same pods, not one restarted: a monitor that lives through the outage it reports
    after = monitor_restarts(kind_session)
    assert after == before, f"the monitor restarted instead of living through it: {before} -> {after}"
