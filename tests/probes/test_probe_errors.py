"""Each way of not getting an answer has its own error and one-line message naming target and URL.

Unreachable, timeout and TLS failures are produced for real on 127.0.0.1. A real DNS failure would
need a resolver outside loopback, so the DNS case feeds the resolver's error through a transport.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from offgridflow_runbook.probes.http import (
    ApiProbe,
    DnsFailure,
    ProbeTimeout,
    TlsError,
    Unauthorized,
    Unreachable,
)
from offgridflow_runbook.targets import Target


def _target(base_url: str) -> Target:
    return Target(name="probe-test", platform="none", base_url=base_url, token_env="PROBE_TEST_TOKEN")


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """Accepts connections and never answers (a hung service)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        for _ in range(200):  # bounded: 200 x 0.1 s
            if stop.is_set():
                return
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(timeout=1.0)
    server.close()
    for connection in accepted:
        connection.close()


@pytest.fixture
def plain_http_server() -> Iterator[int]:
    """Answers every connection with plain HTTP bytes, which a TLS client cannot accept."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(5.0)

    def serve() -> None:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        with connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()
    thread.join(timeout=6.0)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused_is_unreachable() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with ApiProbe(_target(url)) as probe, pytest.raises(Unreachable) as raised:
        probe.live()
    message = str(raised.value)
    assert message.startswith(f"target 'probe-test': unreachable, connection refused: {url}/health/live")
    assert "\n" not in message


def test_no_answer_within_the_deadline_is_a_timeout(silent_server: tuple[int, list[socket.socket]]) -> None:
    url = f"http://127.0.0.1:{silent_server[0]}"
    with ApiProbe(_target(url), timeout=0.3) as probe, pytest.raises(ProbeTimeout) as raised:
        probe.ready()
    assert str(raised.value).startswith(f"target 'probe-test': timed out: {url}/health/ready")


def test_tls_to_a_plain_http_port_is_a_tls_error(plain_http_server: int) -> None:
    url = f"https://127.0.0.1:{plain_http_server}"
    with ApiProbe(_target(url), timeout=3.0) as probe, pytest.raises(TlsError) as raised:
        probe.live()
    assert str(raised.value).startswith(f"target 'probe-test': TLS handshake failed: {url}/health/live")


def test_name_resolution_failure_is_a_dns_failure() -> None:
    def resolver_error(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    target = _target("http://api.offgridflow.invalid")
    with (
        ApiProbe(target, transport=httpx.MockTransport(resolver_error)) as probe,
        pytest.raises(DnsFailure) as raised,
    ):
        probe.live()
    assert str(raised.value).startswith(
        "target 'probe-test': DNS lookup failed: http://api.offgridflow.invalid/health/live"
    )


def test_missing_token_is_unauthorized_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROBE_TEST_TOKEN", raising=False)
    with ApiProbe(_target("http://127.0.0.1:9")) as probe, pytest.raises(Unauthorized) as raised:
        probe.activities()
    assert "$PROBE_TEST_TOKEN is not set" in str(raised.value)
