"""deploy/docker/alert_receiver.py, the game day's webhook receiver, run as it runs in the stack and
in the kind cluster (the script itself, on a free port, with its store in a temporary file): it keeps
its most recent deliveries, across a restart, and sends what a reader asks for (``since``, ``limit``);
the game day's page reads and the "pages can be delivered" check read it so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers.prometheus_server import free_port
from offgridflow_runbook.gameday.pages import read_pages
from offgridflow_runbook.probes.http import ApiProbe
from offgridflow_runbook.probes.pager import receiver_deliveries
from offgridflow_runbook.targets import Target

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "docker" / "alert_receiver.py"
KEEP = 3


class Receiver:
    """The receiver script running on 127.0.0.1, its store in ``store``."""

    def __init__(self, store: Path, keep: str = str(KEEP)) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = store
        environment = {
            **os.environ,
            "ALERT_RECEIVER_PORT": str(self.port),
            "ALERT_RECEIVER_BIND": "127.0.0.1",
            "ALERT_RECEIVER_FILE": str(store),
            "ALERT_RECEIVER_MAX_DELIVERIES": keep,
        }
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT)],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_up(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the receiver ended: {self.process.stderr.read() if self.process.stderr else ''}"
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("the receiver did not answer /health within 15 s")

    def __enter__(self) -> Receiver:
        self.wait_up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def page(self, alert: str) -> None:
        payload = {"receiver": "primary", "alerts": [{"status": "firing", "labels": {"alertname": alert}}]}
        assert httpx.post(f"{self.url}/alerts", json=payload, timeout=5).status_code == 200

    def deliveries(self, query: str = "") -> list[dict[str, object]]:
        answer = httpx.get(f"{self.url}/deliveries{query}", timeout=5)
        assert answer.status_code == 200, answer.text
        result: list[dict[str, object]] = answer.json()
        return result


def alerts(deliveries: list[dict[str, object]]) -> list[str]:
    return [d["payload"]["alerts"][0]["labels"]["alertname"] for d in deliveries]  # type: ignore[index]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    with Receiver(tmp_path / "deliveries.json") as running:
        yield running


def test_it_keeps_only_its_most_recent_deliveries_and_they_survive_a_restart(receiver, tmp_path):
    for number in range(5):
        receiver.page(f"Alert{number}")
    assert alerts(receiver.deliveries()) == ["Alert2", "Alert3", "Alert4"]
    receiver.stop()
    with Receiver(receiver.store) as again:
        assert alerts(again.deliveries()) == ["Alert2", "Alert3", "Alert4"]


def test_a_store_longer_than_the_bound_is_cut_to_its_most_recent_when_loaded(tmp_path):
    store = tmp_path / "deliveries.json"
    old = [
        {"received_at": float(n), "payload": {"alerts": [{"labels": {"alertname": f"Old{n}"}}]}}
        for n in range(9)
    ]
    store.write_text(json.dumps(old), encoding="utf-8")
    with Receiver(store) as running:
        assert alerts(running.deliveries()) == ["Old6", "Old7", "Old8"]


def test_since_sends_what_arrived_from_that_time_on_and_limit_the_last_of_those(receiver):
    receiver.page("Before")
    time.sleep(0.05)
    boundary = time.time()
    time.sleep(0.05)
    receiver.page("After1")
    receiver.page("After2")
    assert alerts(receiver.deliveries(f"?since={boundary:.3f}")) == ["After1", "After2"]
    assert alerts(receiver.deliveries(f"?since={boundary:.3f}&limit=1")) == ["After2"]
    assert receiver.deliveries("?limit=0") == []
    assert alerts(receiver.deliveries("?limit=10")) == ["Before", "After1", "After2"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("?since=yesterday", "since must be a Unix time in seconds, not 'yesterday'"),
        ("?since=nan", "since must be a Unix time in seconds, not 'nan'"),
        ("?limit=-1", "limit must be a whole number of deliveries, not '-1'"),
        ("?limit=", "limit must be a whole number of deliveries, not ''"),
        ("?limit=1&limit=2", "each parameter at most once"),
        ("?page=2", "unknown parameter(s) page: only since, limit"),
    ],
)
def test_a_bad_query_is_a_400_with_the_reason(receiver, query, reason):
    answer = httpx.get(f"{receiver.url}/deliveries{query}", timeout=5)
    assert answer.status_code == 400
    assert answer.json() == {"error": reason}


def test_a_bound_that_is_not_a_whole_number_above_zero_stops_it_with_one_line(tmp_path):
    running = Receiver(tmp_path / "deliveries.json", keep="0")
    assert running.process.wait(timeout=15) != 0
    error = running.process.stderr.read() if running.process.stderr else ""
    running.stop()
    assert error.strip() == "error: ALERT_RECEIVER_MAX_DELIVERIES must be a whole number above 0, not '0'"


def test_the_game_days_page_read_gets_only_the_pages_since_its_fault(receiver):
    receiver.page("OffGridFlowAPIDown")
    time.sleep(0.05)
    fault_at = time.time()
    receiver.page("PostgreSQLDown")
    seen = read_pages(receiver.url, since=fault_at)
    assert seen.unknown is None
    assert [page.alert for page in seen.pages] == ["PostgreSQLDown"]


def test_the_pager_check_reads_an_answer_and_none_of_the_history(receiver):
    for number in range(KEEP):
        receiver.page(f"Alert{number}")
    target = Target(name="pager", platform="none", base_url=receiver.url)
    with ApiProbe(target) as probe:
        answer = receiver_deliveries(probe, receiver.url)
    assert answer.status == 200
    assert answer.json() == []
