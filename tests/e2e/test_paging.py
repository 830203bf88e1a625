"""Pages on the local stack: Alertmanager routes as the runbook's Escalation says, seen at the receiver,
and PodCrashLooping resolves soon after recovery (Verification 5 needs no tolerance)."""

from __future__ import annotations

import time

import docker
import httpx
import pytest

from offgridflow_runbook.gameday.pages import Page, read_pages
from offgridflow_runbook.platforms.docker.driver import DockerPlatform
from offgridflow_runbook.platforms.docker.names import API

from .conftest import wait_until

pytestmark = pytest.mark.e2e

RECEIVER = "http://127.0.0.1:9095"
# PodCrashLooping ends once the container has stayed ready for 1 minute (the rule's window), plus a
# scrape, an evaluation and the health check's first answer.
CRASH_LOOP_RESOLVES_S = 60 + 15


def _page(alert: str, since: float) -> Page | None:
    seen = read_pages(RECEIVER, since=since)
    assert seen.unknown is None, seen.unknown
    return next((page for page in seen.pages if page.alert == alert), None)


def _firing(alert: str) -> bool:
    alerts = httpx.get("http://127.0.0.1:9090/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return any(a["labels"]["alertname"] == alert and a["state"] == "firing" for a in alerts)


def test_a_crash_loop_pages_on_call_escalates_to_the_secondary_and_resolves_within_a_minute_of_recovery(
    healthy_api: DockerPlatform, engine: docker.DockerClient
) -> None:
    # A PodCrashLooping still firing from an earlier test would not be delivered again: start quiet.
    wait_until("no PodCrashLooping left from an earlier test", lambda: not _firing("PodCrashLooping"), 180)
    changed_at = time.time()
    healthy_api.update_config({"OFFGRIDFLOW_DB_POOL_MAX": "lots"})
    try:
        wait_until("PodCrashLooping reaches the receiver", lambda: _page("PodCrashLooping", changed_at), 90)
        crash_loop = _page("PodCrashLooping", changed_at)
        assert crash_loop is not None
        assert crash_loop.receiver == "primary-oncall"
        assert "Fix 3" in crash_loop.summary
        # the fast profile escalates a critical page still firing after 15 s (production: 15 minutes)
        escalated = lambda: _page("OffGridFlowPageUnresolved", changed_at)  # noqa: E731
        wait_until("the escalation reaches the secondary", escalated, 60)
        pages = read_pages(RECEIVER, since=changed_at).pages
        assert {page.receiver for page in pages if page.alert == "OffGridFlowPageUnresolved"} == {
            "secondary-backend"
        }
    finally:
        healthy_api.rollout_undo()
        assert healthy_api.wait_rollout(timeout=60).complete
    assert engine.containers.get(API).attrs["State"]["Health"]["Status"] == "healthy"
    wait_until("PodCrashLooping resolves", lambda: not _firing("PodCrashLooping"), CRASH_LOOP_RESOLVES_S)
