"""The defect switch ``OFFGRIDFLOW_DEFECT=activities-500`` on the real service (a real PostgreSQL
underneath): the process becomes ready, health stays fine, and every activities route answers 500
after the token is accepted; without the switch the same routes answer as usual. The deploy gate's
broken candidate is the API image built with this switch baked in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from offgridflow_api.config import ACTIVITIES_500

if TYPE_CHECKING:
    from conftest import ApiFactory, ApiProcess

pytestmark = pytest.mark.integration

NEW = {
    "source": "gate-defect-test",
    "quantity": 1.0,
    "unit": "kWh",
    "occurred_at": "2026-03-01T06:30:00+00:00",
}


@pytest.fixture(scope="module")
def broken_api(api_factory: ApiFactory) -> ApiProcess:
    return api_factory(env={"OFFGRIDFLOW_DEFECT": ACTIVITIES_500}, wait="ready")


def test_a_broken_build_becomes_ready_but_its_activities_routes_answer_500(broken_api: ApiProcess) -> None:
    ready = httpx.get(broken_api.base_url + "/health/ready")
    assert (ready.status_code, ready.json()["status"]) == (200, "healthy")
    assert httpx.get(broken_api.base_url + "/health/live").status_code == 200
    answers = [
        httpx.get(broken_api.base_url + "/v1/activities?limit=1", headers=broken_api.auth_headers),
        httpx.post(broken_api.base_url + "/v1/activities", json=NEW, headers=broken_api.auth_headers),
        httpx.get(broken_api.base_url + "/v1/activities/1", headers=broken_api.auth_headers),
    ]
    assert [a.status_code for a in answers] == [500, 500, 500]
    assert ACTIVITIES_500 in answers[0].json()["detail"]
    # the token is still checked first, as in any build
    assert httpx.get(broken_api.base_url + "/v1/activities?limit=1").status_code == 401
    # it says at start that it is a broken build, and its 500s are counted as any 5xx is
    assert f'"defect": "{ACTIVITIES_500}"' in broken_api.logs
    metrics = httpx.get(broken_api.metrics_url).text
    assert any('status="500"' in line and "/v1/activities" in line for line in metrics.splitlines())


def test_without_the_switch_the_same_routes_answer(api_server: ApiProcess) -> None:
    listed = httpx.get(api_server.base_url + "/v1/activities?limit=1", headers=api_server.auth_headers)
    assert listed.status_code == 200
    created = httpx.post(api_server.base_url + "/v1/activities", json=NEW, headers=api_server.auth_headers)
    assert created.status_code == 201
    assert '"defect"' not in api_server.logs
