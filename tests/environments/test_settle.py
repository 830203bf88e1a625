"""environments.settle: a Prometheus that has just started is not settled until every target is up
and, an evaluation later, no runbook alert is pending or firing. Against a small real HTTP server
that answers as a Prometheus at each stage would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from offgridflow_runbook.environments import settle


class FakePrometheus:
    """``/api/v1/targets`` and ``/api/v1/alerts`` answering from ``targets`` and ``alerts``."""

    def __init__(self) -> None:
        self.targets: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/api/v1/targets"):
                    data: dict[str, Any] = {"activeTargets": fake.targets}
                elif self.path.startswith("/api/v1/alerts"):
                    data = {"alerts": fake.alerts}
                else:
                    self.send_error(404)
                    return
                body = json.dumps({"status": "success", "data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def target(job: str, health: str, error: str = "") -> dict[str, Any]:
    return {"labels": {"job": job, "instance": f"{job}:80"}, "health": health, "lastError": error}


def alert(name: str, state: str) -> dict[str, Any]:
    return {"labels": {"alertname": name}, "state": state, "activeAt": "2026-12-06T09:20:49Z"}


def test_a_prometheus_that_has_not_scraped_yet_is_not_settled_though_nothing_alerts(
    prometheus: FakePrometheus,
) -> None:
    prometheus.targets = [target("offgridflow-api", "unknown"), target("postgres", "up")]
    assert settle.unsettled(prometheus.url) == ["target offgridflow-api offgridflow-api:80: unknown"]


def test_every_target_up_with_a_runbook_alert_pending_is_not_settled(prometheus: FakePrometheus) -> None:
    prometheus.targets = [target("offgridflow-api", "up")]
    prometheus.alerts = [alert("OffGridFlowAPIDown", "pending"), alert("SomeoneElsesAlert", "firing")]
    assert settle.unsettled(prometheus.url) == ["OffGridFlowAPIDown (pending)"]


def test_settled_needs_quiet_to_last_an_evaluation_or_two(
    prometheus: FakePrometheus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settle, "_EVALUATIONS_S", 0.3)
    prometheus.targets = [target("offgridflow-api", "down", "connection refused")]
    said: list[str] = []
    threading.Timer(0.3, lambda: prometheus.targets.__setitem__(0, target("offgridflow-api", "up"))).start()
    assert settle.wait_until_settled(prometheus.url, deadline=10, say=said.append, interval=0.05) == []
    assert said == [
        "waiting for the monitoring to settle (at most 10 s): "
        "target offgridflow-api offgridflow-api:80: down (connection refused)"
    ]


def test_what_is_still_unsettled_at_the_deadline_is_returned_and_the_command_exits_1(
    prometheus: FakePrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    prometheus.alerts = [alert("PostgreSQLDown", "firing")]
    assert settle.main([prometheus.url, "--deadline", "0.2"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        "the monitoring did not settle within 0.2 s: PostgreSQLDown (firing)"
    )


def test_prometheus_not_answering_is_never_settled() -> None:
    (left,) = settle.unsettled("http://127.0.0.1:9")
    assert left.startswith("Prometheus not readable: ")


@pytest.mark.parametrize("deadline", ["0", "-5", "nan", "inf", "soon"])
def test_a_bad_deadline_is_a_usage_error(deadline: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert settle.main(["http://127.0.0.1:9", "--deadline", deadline]) == 64
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "cannot be parsed (Invalid IPv6 URL)"),
        ("ftp://127.0.0.1:9", "needs the scheme http:// or https://"),
        ("", "needs the scheme http:// or https://"),
        ("not a url", "has spaces or control characters"),
        ("http://", "needs a host"),
    ],
)
def test_a_url_that_can_never_answer_is_a_usage_error_at_once_not_an_unsettled_monitoring(
    url: str, problem: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settle, "wait_until_settled", lambda *_, **__: pytest.fail("waited"))
    assert settle.main([url, "--deadline", "2"]) == 64
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [f"error: PROMETHEUS_URL {url!r} {problem}"]
    assert captured.out == ""
