"""The game day's synthetic user reads as a new client each time: a connection kept alive to a pod
would keep being served after its Service lost every endpoint (the network mode), hiding the outage."""

from __future__ import annotations

import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from helpers.local_http import answer_json, serving
from offgridflow_runbook.gameday.availability import AvailabilityProbe
from offgridflow_runbook.probes.http import ApiProbe
from offgridflow_runbook.targets import load_target

TARGETS_FILE = Path(__file__).parents[2] / "targets.yaml"


def counting_handler(ports: list[int]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, unless the client closes

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            ports.append(self.client_address[1])  # the client's port: one per connection
            body = {"status": "healthy"} if self.path.startswith("/health") else {"activities": []}
            answer_json(self, 200, body)

    return Handler


def test_the_synthetic_user_opens_a_new_connection_for_every_read(monkeypatch) -> None:
    monkeypatch.setenv("OFFGRIDFLOW_TOKEN", "unit-test-token")
    ports: list[int] = []
    with serving(counting_handler(ports)) as url:
        target = load_target("local", TARGETS_FILE).with_overrides(base_url=url)
        with AvailabilityProbe(target, interval=0.05, max_seconds=5.0) as probe:
            deadline = time.monotonic() + 5.0
            while len(ports) < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
            found = probe.stop()
        assert found == []  # every read answered
        assert len(ports) >= 6
        assert len(set(ports)) == len(ports)  # no connection served two reads
        # the control: the same reads on a kept-alive probe share one connection
        ports.clear()
        with ApiProbe(target, timeout=1.0) as api:
            api.ready()
            api.ready()
        assert len(set(ports)) == 1
