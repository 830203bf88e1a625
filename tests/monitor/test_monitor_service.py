"""The monitor as a service on 127.0.0.1: it survives a target that goes away, only reads, and
serves /metrics and /healthz while it runs."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from helpers.monitor_fakes import TOKEN, TOKEN_ENV, Recorder, fake_target, write_targets
from offgridflow_runbook.monitor.server import MetricsServer, parse_listen
from offgridflow_runbook.monitor.service import Monitor
from offgridflow_runbook.targets import Target, load_target

INTERVAL = 0.2
DEADLINE = 15.0


@contextmanager
def serving(monitor: Monitor) -> Iterator[str]:
    """Run ``monitor`` on a free port in a thread; yields its URL; stops it (bounded) after."""
    stop = threading.Event()
    lines: list[str] = []
    monitor.log = lines.append
    thread = threading.Thread(target=monitor.serve, args=(("127.0.0.1", 0), stop), daemon=True)
    thread.start()
    try:
        found = wait_for(
            lambda: next((m for line in lines if (m := re.search(r'"url": "([^"]+)"', line))), None)
        )
        assert isinstance(found, re.Match)
        yield found.group(1)
    finally:
        stop.set()
        thread.join(timeout=DEADLINE)
        assert not thread.is_alive(), "the monitor did not stop"
    assert any('"event": "stopped"' in line for line in lines)


def wait_for(condition: Callable[[], object], deadline: float = DEADLINE) -> object:
    """Poll ``condition`` until it is truthy; fail after ``deadline`` seconds."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {deadline}s: {condition}")


def run_success(url: str) -> str | None:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    match = re.search(r'^offgridflow_synthetic_run_success\{target="fake"\} (\d)$', text, re.MULTILINE)
    return match.group(1) if match else None


def test_the_metric_says_0_while_the_target_is_gone_and_1_once_it_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with contextlib.ExitStack() as first_life:
        api = first_life.enter_context(fake_target(Recorder()))
        port = urlsplit(api).port
        assert port is not None
        monitor = Monitor(load_target("fake", write_targets(tmp_path / "targets.yaml", api)), INTERVAL)
        with serving(monitor) as url:
            wait_for(lambda: run_success(url) == "1")
            first_life.close()  # the API goes away: the monitor lives on and says 0
            wait_for(lambda: run_success(url) == "0")
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            assert "unreachable" in (monitor.state.last.reason if monitor.state.last else "")
            with fake_target(Recorder(), port=port):  # back on the same port
                wait_for(lambda: run_success(url) == "1")
            failures = monitor.state.render()
    assert re.search(r'runs_total\{target="fake",result="failure"\} [1-9]', failures)
    assert re.search(r'runs_total\{target="fake",result="success"\} [2-9]', failures)


def test_the_monitor_only_reads_even_where_writes_are_allowed(
    tmp_path: Path, recorder: Recorder, fake_url: str
) -> None:
    writable = load_target("fake", write_targets(tmp_path / "targets.yaml", fake_url, allow_writes=True))
    assert writable.allow_writes
    monitor = Monitor(writable, INTERVAL)
    with serving(monitor):
        wait_for(lambda: monitor.state.render().count('result="success"} 3') == 1)
    assert recorder.requests, "the fake saw nothing: the test could not look"
    assert recorder.methods <= {"GET", "HEAD"}, sorted(recorder.requests)
    paths = {path for _, path in recorder.requests}
    assert {"/health/live", "/health/ready", "/v1/activities", "/metrics", "/api/v1/query"} <= paths


def test_healthz_and_metrics_answer_and_anything_else_is_404(target: Target) -> None:
    with serving(Monitor(target, INTERVAL)) as url:
        wait_for(lambda: run_success(url) == "1")
        health = httpx.get(f"{url}/healthz", timeout=5)
        assert (health.status_code, health.text) == (200, "ok\n")
        metrics = httpx.get(f"{url}/metrics", timeout=5)
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert 'offgridflow_synthetic_step_success{target="fake",step="Verification 3"} 1' in metrics.text
        assert httpx.get(f"{url}/", timeout=5).status_code == 404
        assert httpx.post(f"{url}/metrics", timeout=5).status_code == 501


def test_healthz_fails_while_a_run_hangs(target: Target) -> None:
    now = [0.0]
    monitor = Monitor(target, 10.0, clock=lambda: now[0])
    assert monitor.healthy() == (True, "ok")
    monitor._running_since = 0.0
    now[0] = 51.0
    ok, why = monitor.healthy()
    assert not ok
    assert "51s" in why


def test_an_ipv6_listen_address_serves_the_metrics(target: Target) -> None:
    """``--listen [::1]:PORT``, as its help offers: the server binds an IPv6 socket for an IPv6 host."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here: {error}")
    host, port = parse_listen("[::1]:0")
    monitor = Monitor(target, INTERVAL)
    server = MetricsServer((host, port), monitor.state, monitor.healthy).start()
    try:
        assert re.fullmatch(r"http://\[::1\]:\d+", server.url)
        assert server.url != "http://[::1]:0"
        monitor.run_once()
        metrics = httpx.get(f"{server.url}/metrics", timeout=5)
        assert metrics.status_code == 200
        assert 'offgridflow_synthetic_run_success{target="fake"} 1' in metrics.text
        assert httpx.get(f"{server.url}/healthz", timeout=5).text == "ok\n"
    finally:
        server.close()


def test_a_connection_that_stays_silent_is_closed_and_scrapes_go_on(target: Target) -> None:
    # a port scanner or a stuck peer holds a thread of the server for as long as its connection lasts
    monitor = Monitor(target, INTERVAL)
    server = MetricsServer(("127.0.0.1", 0), monitor.state, monitor.healthy, client_timeout=0.5).start()
    try:
        port = int(server.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as silent:
            started = time.monotonic()
            assert httpx.get(f"{server.url}/healthz", timeout=5).text == "ok\n"  # served meanwhile
            assert silent.recv(1024) == b""  # closed by the server, with no answer
            assert time.monotonic() - started < 5
    finally:
        server.close()
