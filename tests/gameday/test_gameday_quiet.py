"""A game day waits for a quiet steady state before each fault: an alert an earlier fault left pending
or firing must resolve first, so it can never be scored as this fault's detection, and every scrape
target must be up, so the fault never lands where the monitoring cannot see. Against a stand-in
Prometheus on 127.0.0.1 whose ``/api/v1/alerts`` and ``/api/v1/targets`` answer what each test gives it."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest

from helpers.local_http import answer_json, serving
from offgridflow_runbook.gameday.alerts import still_alerting, wait_for_quiet


class _Prometheus(BaseHTTPRequestHandler):
    answers: ClassVar[list[list[dict[str, Any]]]] = []  # one list of alerts per request; the last repeats
    targets: ClassVar[list[list[dict[str, Any]]]] = []  # the same for the active scrape targets
    status: ClassVar[int] = 200

    def do_GET(self) -> None:
        if self.path.startswith("/api/v1/targets"):
            listed = _Prometheus.targets.pop(0) if len(_Prometheus.targets) > 1 else _Prometheus.targets[0]
            answer_json(self, _Prometheus.status, {"status": "success", "data": {"activeTargets": listed}})
            return
        alerts = _Prometheus.answers.pop(0) if len(_Prometheus.answers) > 1 else _Prometheus.answers[0]
        answer_json(self, _Prometheus.status, {"status": "success", "data": {"alerts": alerts}})

    def log_message(self, *args: object) -> None:
        pass


def _alert(name: str, state: str) -> dict[str, Any]:
    return {"labels": {"alertname": name}, "state": state, "activeAt": "2026-12-06T01:00:00Z"}


def _target(job: str, health: str, error: str = "") -> dict[str, Any]:
    return {"labels": {"job": job, "instance": f"{job}:8080"}, "health": health, "lastError": error}


UP = [_target("offgridflow-api", "up"), _target("kube-state-metrics", "up")]


@pytest.fixture
def prometheus() -> Iterator[type[_Prometheus]]:
    _Prometheus.answers, _Prometheus.targets, _Prometheus.status = [[]], [UP], 200
    with serving(_Prometheus) as url:
        _Prometheus.url = url  # type: ignore[attr-defined]
        yield _Prometheus


def test_only_the_runbooks_alerts_pending_or_firing_count(prometheus: Any) -> None:
    prometheus.answers = [[_alert("PostgreSQLDown", "firing"), _alert("Watchdog", "firing")]]
    assert still_alerting(prometheus.url) == ["PostgreSQLDown (firing)"]


def test_the_wait_ends_as_soon_as_the_left_over_alert_resolves(prometheus: Any) -> None:
    prometheus.answers = [[_alert("PostgreSQLDown", "firing")], [_alert("PodCrashLooping", "pending")], []]
    said: list[str] = []
    assert wait_for_quiet(prometheus.url, deadline=10, interval=0.01, say=said.append) == []
    # each change of what is alerting is said once
    assert len(said) == 2
    assert "PostgreSQLDown (firing)" in said[0]
    assert "PodCrashLooping (pending)" in said[1]


def test_everything_the_wait_waited_out_is_collected_for_its_caller(prometheus: Any) -> None:
    prometheus.answers = [[_alert("PostgreSQLDown", "firing")], [_alert("PodCrashLooping", "pending")], []]
    seen: set[str] = set()
    assert wait_for_quiet(prometheus.url, deadline=10, interval=0.01, say=lambda _: None, seen=seen) == []
    assert seen == {"PostgreSQLDown (firing)", "PodCrashLooping (pending)"}


def test_an_alert_that_never_resolves_is_returned_at_the_deadline(prometheus: Any) -> None:
    prometheus.answers = [[_alert("OffGridFlowAPIDown", "firing")]]
    assert wait_for_quiet(prometheus.url, deadline=0.2, interval=0.05, say=lambda _: None) == [
        "OffGridFlowAPIDown (firing)"
    ]


def test_a_prometheus_that_cannot_be_read_is_never_quiet(prometheus: Any) -> None:
    prometheus.status = 503
    (still,) = wait_for_quiet(prometheus.url, deadline=0.2, interval=0.05, say=lambda _: None)
    assert still.startswith("Prometheus not readable:")


def test_a_target_not_scraped_up_keeps_the_stack_from_being_quiet_until_it_is(prometheus: Any) -> None:
    # kube-state-metrics just restarted (a node restart, a fix's rollout): an OOM could not page yet
    down = [UP[0], _target("kube-state-metrics", "down", "connection refused")]
    prometheus.targets = [down, [UP[0], _target("kube-state-metrics", "unknown")], UP]
    said: list[str] = []
    assert wait_for_quiet(prometheus.url, deadline=10, interval=0.01, say=said.append) == []
    assert "target kube-state-metrics kube-state-metrics:8080: down (connection refused)" in said[0]
    assert "kube-state-metrics:8080: unknown" in said[1]


def test_a_target_that_stays_down_is_returned_at_the_deadline_before_any_alert(prometheus: Any) -> None:
    prometheus.targets = [[_target("postgres-exporter", "down")]]
    prometheus.answers = [[_alert("PostgreSQLDown", "firing")]]
    assert wait_for_quiet(prometheus.url, deadline=0.2, interval=0.05, say=lambda _: None) == [
        "target postgres-exporter postgres-exporter:8080: down"
    ]
