"""Every panel of the Grafana dashboard `api-overview` returns data on the local stack's Prometheus."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from offgridflow_runbook.platforms.docker.driver import DockerPlatform

from .conftest import wait_until

pytestmark = pytest.mark.e2e

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "dashboards" / "api-overview.json"
PROMETHEUS = "http://127.0.0.1:9090"
QUERIES = [
    (panel["title"], target["expr"])
    for panel in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]
    for target in panel["targets"]
]


@pytest.fixture(scope="module")
def user_traffic(local_stack: DockerPlatform, token: str) -> None:
    """A few user requests, so the rates over 5 minutes have something to show once scraped (each test
    waits for its query to return data)."""
    with httpx.Client(base_url="http://127.0.0.1:8080", timeout=5) as client:
        for _ in range(20):
            client.get("/v1/activities?limit=1", headers={"Authorization": f"Bearer {token}"})


def _result(expression: str) -> list[object]:
    response = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": expression}, timeout=5)
    response.raise_for_status()
    result: list[object] = response.json()["data"]["result"]
    return result


@pytest.mark.parametrize(("title", "expression"), QUERIES, ids=[f"{t}: {e[:40]}" for t, e in QUERIES])
def test_every_panel_query_returns_data_on_the_local_prometheus(
    user_traffic: None, title: str, expression: str
) -> None:
    wait_until(f"'{title}' returns data", lambda: bool(_result(expression)), timeout=30)
