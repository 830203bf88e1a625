"""The local stack's API Service on the real stack: a selector that matches no container takes the
API off the path traffic takes (127.0.0.1:8080 refuses at once, the Service's endpoint series falls
to 0 in Prometheus) while the API itself keeps running, ready and scraped; putting the selector back
brings the traffic back, with no restart of anything."""

from __future__ import annotations

import time

import httpx
import pytest

from offgridflow_runbook.platforms.docker.driver import DockerPlatform
from offgridflow_runbook.platforms.docker.names import API_INTERNAL_PORT, API_SERVICE

from .conftest import LOCAL_PROMETHEUS, wait_until

pytestmark = pytest.mark.e2e

SERVICE = "http://127.0.0.1:8080"
INSTANCE = f"http://127.0.0.1:{API_INTERNAL_PORT}"
AVAILABLE = f'kube_endpoint_address_available{{namespace="offgridflow",endpoint="{API_SERVICE}"}}'
API_UP = 'up{job="offgridflow-api"}'
# The proxy reads the selector at most a second old; Prometheus scrapes every second (fast profile).
SERVICE_FOLLOWS_S = 5
SERIES_FOLLOWS_S = 30


def _value(expression: str) -> float | None:
    """The one sample ``expression`` gives now in the stack's Prometheus (None: no sample)."""
    answer = httpx.get(f"{LOCAL_PROMETHEUS}/api/v1/query", params={"query": expression}, timeout=5)
    answer.raise_for_status()
    results = answer.json()["data"]["result"]
    assert len(results) <= 1, results
    return float(results[0]["value"][1]) if results else None


def _service_answers() -> bool:
    try:
        return httpx.get(f"{SERVICE}/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _service_refuses_at_once() -> bool:
    started = time.monotonic()
    try:
        httpx.get(f"{SERVICE}/health/ready", timeout=5)
    except httpx.TransportError:
        return time.monotonic() - started < 1.0
    return False


def test_a_selector_matching_no_container_cuts_the_traffic_not_the_api(healthy_api: DockerPlatform) -> None:
    before = healthy_api.api_service_selector()
    # the series exists with the API selected: a 0 later is the fault's, not a series never served
    wait_until(f"{AVAILABLE} is 1", lambda: _value(AVAILABLE) == 1, SERIES_FOLLOWS_S)
    assert healthy_api.network().selected_pods == 1
    try:
        healthy_api.set_api_service_selector(before | {"offgridflow.io/chaos": "network"})
        wait_until("127.0.0.1:8080 refuses at once", _service_refuses_at_once, SERVICE_FOLLOWS_S)
        wait_until(f"{AVAILABLE} is 0", lambda: _value(AVAILABLE) == 0, SERIES_FOLLOWS_S)
        # the API itself: running, ready, answering on its own port and scraped
        assert _value(API_UP) == 1
        assert all(workload.ready for workload in healthy_api.api_workloads())
        assert httpx.get(f"{INSTANCE}/health/ready", timeout=5).status_code == 200
        network = healthy_api.network()
        assert (network.ready_endpoints, network.selected_pods) == (0, 0), network.detail
        assert ("offgridflow.io/chaos", "network") in (network.service_selector or ())
        assert "127.0.0.1:8080" not in network.published
    finally:
        healthy_api.set_api_service_selector(before)
    assert healthy_api.api_service_selector() == before
    wait_until("127.0.0.1:8080 answers again", _service_answers, SERVICE_FOLLOWS_S)
    wait_until(f"{AVAILABLE} is 1 again", lambda: _value(AVAILABLE) == 1, SERIES_FOLLOWS_S)
    assert healthy_api.network().ready_endpoints == 1
