"""Paging on the real kind cluster: Alertmanager's routes without the outside services, and a page
that reaches the webhook receiver by the route the runbook's Escalation names."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import yaml

from offgridflow_runbook.gameday.pages import read_pages

pytestmark = pytest.mark.kind


@pytest.fixture(scope="module")
def kind_target(kind_session):
    return kind_session.target(kind_session.settings.config_file.parent / "targets.yaml")


def integrations_loaded(alertmanager_url: str) -> dict[str, set[str]]:
    status = httpx.get(f"{alertmanager_url}/api/v2/status", timeout=10).raise_for_status().json()
    config = yaml.safe_load(status["config"]["original"])
    return {r["name"]: {key for key in r if key.endswith("_configs")} for r in config["receivers"]}


def test_alertmanager_on_kind_leaves_out_integrations_without_their_secret(kind_target):
    # the cluster has no Secret alertmanager-receivers: PagerDuty and Slack would fail every send
    assert integrations_loaded(kind_target.alertmanager_url) == {
        "blackhole": set(),
        "primary-oncall": {"webhook_configs"},
        "platform-channel": {"webhook_configs"},
        "secondary-backend": {"webhook_configs"},
    }


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"severity": "critical", "team": "platform"}, "primary-oncall"),
        ({"severity": "warning", "team": "platform"}, "platform-channel"),
        ({"severity": "critical", "team": "platform", "escalate": "secondary"}, "secondary-backend"),
    ],
)
def test_an_alert_is_delivered_to_the_receiver_its_severity_routes_to(kind_target, labels, receiver):
    name = f"KindPagingProbe{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": name, "job": "kind-paging-test", **labels},
        "annotations": {"summary": "kind tier paging test"},
        "startsAt": now.isoformat(),
        # resolves by itself: nothing is left firing in the cluster after the test
        "endsAt": (now + timedelta(minutes=2)).isoformat(),
    }
    sent = time.time()
    httpx.post(f"{kind_target.alertmanager_url}/api/v2/alerts", json=[alert], timeout=10).raise_for_status()
    # group_wait is 10 s in production and 1 s in the fast profile: 60 s bounds both with room
    deadline = time.monotonic() + 60
    while True:
        seen = read_pages(kind_target.alert_receiver_url, since=sent - 2)
        assert seen.unknown is None, seen.unknown
        pages = [page for page in seen.pages if page.alert == name]
        if pages or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [page.receiver for page in pages][:1] == [receiver], f"no page for {name} within 60 s"
