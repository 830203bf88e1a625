"""probes.transport against real sockets on 127.0.0.1: a request ends within its connect, write and
read timeouts added up, however slowly the server sends its headers or its body; an answer larger than
the limit is not read; a request that keeps within each timeout is never cut short, and one request's
deadline never reaches the next one on the same connection or thread. The environment's proxies
(a real forward proxy here) carry the reads, within the same deadline, except where no_proxy says."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from offgridflow_runbook.probes.http import (
    AnswerTooLarge,
    ApiProbe,
    ProbeTimeout,
    ProxyFailed,
    bypasses_proxy,
)
from offgridflow_runbook.probes.transport import AnswerTooLarge as TransportAnswerTooLarge
from offgridflow_runbook.probes.transport import BoundedTransport
from offgridflow_runbook.targets import Target

# These tests run in the niced units tier beside the kind and Docker tiers on two cores, where a
# thread of theirs can wait most of a second for its turn (CI at abe2d40: a byte sent every 0.25 s
# did not arrive within a 1 s read timeout). So the timeouts leave that room, and what is measured
# is the deadline: a read waits up to READ_TIMEOUT for its next byte, a server trickles one every
# TRICKLE_EVERY, and the request's deadline is its connect, write and read timeouts added up.
CONNECT_TIMEOUT = WRITE_TIMEOUT = 0.5  # 127.0.0.1: the kernel accepts and buffers, nothing waits
READ_TIMEOUT = 2.0
TIMEOUTS = httpx.Timeout(CONNECT_TIMEOUT, read=READ_TIMEOUT)
DEADLINE = CONNECT_TIMEOUT + WRITE_TIMEOUT + READ_TIMEOUT  # 3 s
TRICKLE_EVERY = 0.1  # a stall of 1.9 s between two bytes before a read times out on its own
# ApiProbe takes one timeout for all three: its deadline is three of them
PROBE_TIMEOUT = 2.0
PROBE_DEADLINE = 3 * PROBE_TIMEOUT
LATE = 2.0  # how much later than its deadline a request may be seen to end (the thread's turn)
SERVER_LIFETIME_S = 20.0  # every server here stops by itself
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"

Handler = Callable[[socket.socket], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], str]]:
    """Start a server on a free 127.0.0.1 port whose every connection ``handler`` answers; its URL."""
    stop = threading.Event()
    listeners: list[socket.socket] = []

    def start(handler: Handler) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.1)
        listeners.append(listener)
        deadline = time.monotonic() + SERVER_LIFETIME_S

        def accept() -> None:
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    connection, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return  # the listener was closed: the test is over
                threading.Thread(target=answer, args=(connection,), daemon=True).start()

        def answer(connection: socket.socket) -> None:
            # OSError: the client gave up, which is what these tests want of it
            with connection, contextlib.suppress(OSError):
                handler(connection)

        threading.Thread(target=accept, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


def trickle(connection: socket.socket, data: bytes, every: float) -> None:
    """Send ``data`` a byte at a time, one every ``every`` seconds (each read of the client gets one)."""
    for byte in data:
        connection.sendall(bytes([byte]))
        time.sleep(every)


def read_request(connection: socket.socket) -> bytes:
    """What the client sent, up to the end of its headers (less if it closed first)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def endless_trickle(connection: socket.socket) -> None:
    """Answer 200, then a body a byte every TRICKLE_EVERY: each read well within its timeout."""
    read_request(connection)
    connection.sendall(HEAD + b"\r\n")
    trickle(connection, b"x" * 1000, every=TRICKLE_EVERY)


def quick(connection: socket.socket) -> None:
    read_request(connection)
    connection.sendall(HEAD + b"Content-Length: 2\r\nConnection: close\r\n\r\nok")


def client(**options: object) -> httpx.Client:
    return httpx.Client(timeout=TIMEOUTS, transport=BoundedTransport(**options))  # type: ignore[arg-type]


def timed(call: Callable[[], object]) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        call()
    except BaseException as error:  # what was raised is the result
        return time.monotonic() - started, error
    return time.monotonic() - started, None


def test_a_body_sent_a_byte_at_a_time_ends_at_the_deadline(serve: Callable[[Handler], str]) -> None:
    url = serve(endless_trickle)
    with client() as http:
        took, error = timed(lambda: http.get(url))
    assert isinstance(error, httpx.ReadTimeout)
    assert f"no whole answer within {DEADLINE:g} s" in str(error)
    assert DEADLINE <= took < DEADLINE + LATE


def test_headers_sent_a_byte_at_a_time_end_at_the_deadline(serve: Callable[[Handler], str]) -> None:
    def slow_headers(connection: socket.socket) -> None:
        read_request(connection)
        trickle(connection, HEAD + b"X-Padding: " + b"y" * 1000, every=TRICKLE_EVERY)

    url = serve(slow_headers)
    with client() as http:
        took, error = timed(lambda: http.get(url))
    assert isinstance(error, httpx.ReadTimeout)
    assert DEADLINE <= took < DEADLINE + LATE


def test_an_answer_over_the_limit_is_not_read_past_it(serve: Callable[[Handler], str]) -> None:
    def large(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(HEAD + b"\r\n" + b"z" * 200_000)

    url = serve(large)
    with (
        client(max_answer_bytes=100_000) as http,
        pytest.raises(TransportAnswerTooLarge, match="larger than 100000 bytes"),
    ):
        http.get(url)
    with client(max_answer_bytes=200_000) as http:  # at the limit: read whole
        assert len(http.get(url).content) == 200_000


def test_a_request_within_each_timeout_is_not_cut_short(serve: Callable[[Handler], str]) -> None:
    # each of the two reads waits over half its timeout: together past one timeout, within the deadline
    def deliberate(connection: socket.socket) -> None:
        read_request(connection)
        time.sleep(READ_TIMEOUT * 0.55)
        connection.sendall(HEAD + b"Content-Length: 2\r\n\r\n")
        time.sleep(READ_TIMEOUT * 0.55)
        connection.sendall(b"ok")

    url = serve(deliberate)
    with client() as http:
        answer = http.get(url)
    assert (answer.status_code, answer.text) == (200, "ok")


def test_one_requests_deadline_never_reaches_the_next_on_the_same_connection(
    serve: Callable[[Handler], str],
) -> None:
    def keep_alive(connection: socket.socket) -> None:
        for _ in range(2):
            read_request(connection)
            connection.sendall(HEAD + b"Content-Length: 2\r\n\r\nok")

    url = serve(keep_alive)
    with client() as http:
        assert http.get(url).text == "ok"
        time.sleep(DEADLINE + 0.2)  # the first request's deadline is long past
        second = http.get(url)
    assert second.text == "ok"
    assert second.extensions["network_stream"] is not None


def test_requests_in_threads_each_keep_their_own_deadline(serve: Callable[[Handler], str]) -> None:
    quick_url, slow_url = serve(quick), serve(endless_trickle)
    outcomes: dict[str, object] = {}
    with client() as http:

        def slow() -> None:
            outcomes["slow"] = timed(lambda: http.get(slow_url))[1]

        def fast() -> None:
            time.sleep(DEADLINE / 2)
            outcomes["fast"] = [http.get(quick_url).text for _ in range(5)]

        threads = [threading.Thread(target=slow), threading.Thread(target=fast)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert isinstance(outcomes["slow"], httpx.ReadTimeout)
    assert outcomes["fast"] == ["ok"] * 5


def test_the_probes_name_a_trickling_or_oversized_answer(serve: Callable[[Handler], str]) -> None:
    target = Target(name="t", platform="none", base_url=serve(endless_trickle))
    probe = ApiProbe(target, timeout=PROBE_TIMEOUT)
    with probe, pytest.raises(ProbeTimeout, match=r"timed out: .*/health/live \(no whole answer within"):
        probe.live()

    def oversized(connection: socket.socket) -> None:
        read_request(connection)
        connection.sendall(HEAD + b"\r\n")
        chunk = b"z" * 65536
        for _ in range(300):  # 19.7 MB: past the 16 MiB the probes read
            connection.sendall(chunk)

    probe = ApiProbe(Target(name="t", platform="none", base_url=serve(oversized)))
    with probe, pytest.raises(AnswerTooLarge, match=r"answer too large: .*/health/live"):
        probe.live()


def test_two_answers_read_by_turns_in_one_thread_keep_their_own_deadlines(
    serve: Callable[[Handler], str],
) -> None:
    slow_url, quick_url = serve(endless_trickle), serve(quick)
    started = time.monotonic()
    with client() as http, http.stream("GET", slow_url) as slow:
        chunks = slow.iter_raw()
        next(chunks)  # the slow answer has begun
        with http.stream("GET", quick_url) as fast:
            assert fast.read() == b"ok"  # read whole between two chunks of the slow one
        with pytest.raises(httpx.ReadTimeout):
            for _ in chunks:
                pass
    assert time.monotonic() - started < DEADLINE + LATE  # the slow one kept its own deadline


# -- the environment's proxies -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "no_proxy", "bypassed"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "localhost, 127.0.0.1:8080", True),
        ("10.2.3.4", "10.0.0.0/8", True),
        ("10.2.3.4", "192.168.0.0/16", False),
        ("api.example.com", "example.com", True),
        ("api.example.com", ".example.com", True),
        ("example.com", ".example.com", True),
        ("badexample.com", "example.com", False),
        ("API.Example.COM", "api.example.com", True),
        ("::1", "[::1]:8080", True),
        ("anything", "*", True),
        ("anything", "", False),
        ("anything", " , ,", False),
    ],
)
def test_no_proxy_sends_the_hosts_it_names_direct(host: str, no_proxy: str, bypassed: bool) -> None:
    assert bypasses_proxy(host, no_proxy) is bypassed


def forward_proxy(seen: list[bytes]) -> Handler:
    """An HTTP forward proxy: one request per connection, passed on to the host its URL names."""

    def relay(connection: socket.socket) -> None:
        head = read_request(connection)
        if b"\r\n\r\n" not in head:
            return
        request_line, _, rest = head.partition(b"\r\n")
        method, url, version = request_line.split(b" ")
        seen.append(request_line)
        authority, _, path = url.removeprefix(b"http://").partition(b"/")
        host, _, port = authority.partition(b":")
        with socket.create_connection((host.decode(), int(port)), timeout=10) as upstream:
            upstream.sendall(b"%s /%s %s\r\nConnection: close\r\n%s" % (method, path, version, rest))
            while chunk := upstream.recv(65536):
                connection.sendall(chunk)

    return relay


def test_the_environments_proxy_carries_the_reads_and_no_proxy_sends_them_direct(
    serve: Callable[[Handler], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bytes] = []
    target = Target(name="t", platform="none", base_url=serve(quick))
    monkeypatch.setenv("HTTP_PROXY", serve(forward_proxy(seen)))
    monkeypatch.setenv("NO_PROXY", "")
    with ApiProbe(target) as probe:
        assert probe.live().text == "ok"
    assert seen == [f"GET {target.base_url}/health/live HTTP/1.1".encode()]
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    with ApiProbe(target) as probe:
        assert probe.live().text == "ok"
    assert len(seen) == 1  # direct: the proxy saw nothing more


def test_a_read_through_a_proxy_keeps_its_deadline(
    serve: Callable[[Handler], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bytes] = []
    target = Target(name="t", platform="none", base_url=serve(endless_trickle))
    monkeypatch.setenv("HTTP_PROXY", serve(forward_proxy(seen)))
    monkeypatch.setenv("NO_PROXY", "")
    started = time.monotonic()
    with ApiProbe(target, timeout=PROBE_TIMEOUT) as probe, pytest.raises(ProbeTimeout):
        probe.live()
    assert time.monotonic() - started < PROBE_DEADLINE + LATE
    assert len(seen) == 1


def test_a_proxy_of_another_kind_is_named_not_bypassed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    target = Target(name="t", platform="none", base_url="http://127.0.0.1:9")
    with ApiProbe(target) as probe, pytest.raises(ProxyFailed, match="only http:// and https:// proxies"):
        probe.live()
