"""Metrics on their own port: request counters by route template, latency histogram, pool gauges."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    from conftest import ApiProcess

pytestmark = pytest.mark.integration


def samples(api: ApiProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx.get(api.metrics_url)
    assert answer.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def requests_total(api: ApiProcess, method: str, path: str, status: str) -> float:
    key = ("http_requests_total", (("method", method), ("path", path), ("status", status)))
    return samples(api).get(key, 0.0)


def test_requests_are_counted_by_route_template_never_by_raw_url(api_server: ApiProcess) -> None:
    before = requests_total(api_server, "GET", "/v1/activities/{activity_id}", "404")
    for activity_id in (2**40, 2**40 + 1, 2**40 + 2):
        httpx.get(api_server.base_url + f"/v1/activities/{activity_id}", headers=api_server.auth_headers)
    httpx.get(api_server.base_url + "/no/such/page/12345")

    assert requests_total(api_server, "GET", "/v1/activities/{activity_id}", "404") == before + 3
    assert requests_total(api_server, "GET", "<unmatched>", "404") >= 1
    exposed = httpx.get(api_server.metrics_url).text
    assert str(2**40) not in exposed
    assert "/no/such/page" not in exposed


def test_latency_pool_and_process_metrics_are_exposed(api_server: ApiProcess) -> None:
    httpx.get(api_server.base_url + "/v1/activities?limit=1", headers=api_server.auth_headers)
    values = samples(api_server)
    count_key = ("http_request_duration_seconds_count", (("method", "GET"), ("path", "/v1/activities")))
    assert values[count_key] >= 1
    assert values[("offgridflow_db_pool_max", ())] == 10
    assert values[("offgridflow_db_pool_size", ())] >= 1
    assert values[("offgridflow_db_up", ())] == 1
    assert values[("process_resident_memory_bytes", ())] > 10 * 2**20


def test_the_api_port_does_not_serve_metrics(api_server: ApiProcess) -> None:
    assert httpx.get(api_server.base_url + "/metrics").status_code == 404
