"""The engine client on a stand-in engine (an HTTP server on a Unix socket, answering as dockerd does):
listings, execs, events, refusals, bounded waits, and the endpoints it will not speak to. The same
client against the real engine is in tests/e2e/test_docker_platform.py."""

from __future__ import annotations

import json
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from offgridflow_runbook.platforms.docker.engine_client import (
    ContainerInfo,
    EngineClient,
    EngineError,
    EngineTimeout,
    NoSuchContainer,
    demultiplex,
)

# what the stand-in engine does with a request: (method, path) -> (status, body, close-delimited)
Route = Callable[[dict[str, Any]], tuple[int, bytes]]
WAIT_BOUND = 0.3
SLOW_WAIT = 1.0  # the stand-in's /wait answers after this long: past WAIT_BOUND, and bounded itself


def frame(stream: int, text: str) -> bytes:
    data = text.encode()
    return struct.pack(">BxxxL", stream, len(data)) + data


def inspected(name: str, **config: Any) -> dict[str, Any]:
    return {
        "Id": f"id-{name}",
        "Name": f"/{name}",
        "State": {"Status": "running"},
        "Config": {"Labels": {"app": name}, **config},
    }


class StandInEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path) -> None:
        self.seen: list[tuple[str, str, dict[str, list[str]]]] = []
        self.routes: dict[tuple[str, str], Route] = {}
        super().__init__(str(path), Handler)


class Handler(BaseHTTPRequestHandler):
    server: StandInEngine
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else {}
        self.server.seen.append((self.command, url.path, query))
        route = self.server.routes.get((self.command, url.path))
        status, payload = (
            route({"query": query, "body": body}) if route else (404, b'{"message": "page not found"}')
        )
        if url.path.startswith("/exec/") and url.path.endswith("/start"):
            # dockerd hijacks the connection: no length, no "Connection: close" (Docker 20.10), the
            # stream ends when it closes the connection, which must then not be used again
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.docker.raw-stream")
            self.end_headers()
            self.wfile.write(payload)
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _answer

    def address_string(self) -> str:  # a Unix socket's peer has no address
        return "stand-in"

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[StandInEngine]:
    server = StandInEngine(tmp_path / "docker.sock")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def client(engine: StandInEngine) -> Iterator[EngineClient]:
    with EngineClient(f"unix://{engine.server_address}", timeout=2) as made:
        yield made


def answer(status: int, value: object) -> Route:
    return lambda _request: (status, json.dumps(value).encode())


def test_a_listing_inspects_each_container_and_leaves_out_one_gone_meanwhile(
    engine: StandInEngine, client: EngineClient
) -> None:
    engine.routes[("GET", "/containers/json")] = answer(200, [{"Id": "id-api"}, {"Id": "id-gone"}])
    engine.routes[("GET", "/containers/id-api/json")] = answer(
        200, inspected("api") | {"Name": "/offgridflow-api"}
    )
    engine.routes[("GET", "/containers/id-gone/json")] = answer(
        404, {"message": "No such container: id-gone"}
    )
    found = client.containers(labels=["com.offgridflow.stack=local", "app=offgridflow-api"])
    assert [(seen.id, seen.name, seen.status, seen.labels) for seen in found] == [
        ("id-api", "offgridflow-api", "running", {"app": "api"})
    ]
    listing = engine.seen[0][2]
    assert listing["all"] == ["1"]
    assert json.loads(listing["filters"][0]) == {
        "label": ["com.offgridflow.stack=local", "app=offgridflow-api"]
    }


def test_an_absent_container_is_none_and_any_other_refusal_carries_the_engines_words(
    engine: StandInEngine, client: EngineClient
) -> None:
    engine.routes[("GET", "/containers/postgres/json")] = answer(
        404, {"message": "No such container: postgres"}
    )
    assert client.container("postgres") is None
    engine.routes[("POST", "/containers/id-db/kill")] = answer(
        409, {"message": "container id-db is not running"}
    )
    with pytest.raises(EngineError) as refused:
        client.kill("id-db")
    assert (refused.value.status_code, refused.value.explanation) == (409, "container id-db is not running")
    assert not isinstance(refused.value, NoSuchContainer)
    assert engine.seen[-1][2] == {"signal": ["SIGKILL"]}


def test_an_exec_returns_its_exit_code_and_both_streams_in_the_order_written(
    engine: StandInEngine, client: EngineClient
) -> None:
    engine.routes[("POST", "/containers/id-db/exec")] = lambda request: (
        201,
        json.dumps({"Id": "exec-1"}).encode() if request["body"]["Cmd"] == ["pg_isready"] else b"{}",
    )
    engine.routes[("POST", "/exec/exec-1/start")] = lambda _request: (
        200,
        frame(1, "accepting") + frame(2, " (stderr)") + frame(1, "\n"),
    )
    engine.routes[("GET", "/exec/exec-1/json")] = answer(200, {"ExitCode": 2, "Running": False})
    assert client.exec("id-db", ["pg_isready"], user="postgres") == (2, "accepting (stderr)\n")


def test_logs_are_demultiplexed_unless_the_container_has_a_terminal(
    engine: StandInEngine, client: EngineClient
) -> None:
    engine.routes[("GET", "/containers/id-api/logs")] = lambda _request: (
        200,
        frame(1, "a\n") + frame(2, "b\n"),
    )
    assert client.logs(ContainerInfo.from_inspect(inspected("api")), tail=2) == "a\nb\n"
    assert engine.seen[-1][2]["tail"] == ["2"]
    engine.routes[("GET", "/containers/id-tty/logs")] = lambda _request: (200, b"raw terminal\n")
    assert client.logs(ContainerInfo.from_inspect(inspected("tty", Tty=True))) == "raw terminal\n"


def test_demultiplexing_keeps_what_arrived_of_a_cut_frame() -> None:
    cut = frame(1, "whole\n") + frame(2, "half of it")[:-4]
    assert demultiplex(cut) == b"whole\nhalf o"
    assert demultiplex(b"") == b""


def test_events_are_asked_from_since_until_a_moment_and_read_line_by_line(
    engine: StandInEngine, client: EngineClient
) -> None:
    lines = [{"Action": "start", "timeNano": 1}, {"Action": "die", "timeNano": 2}]
    engine.routes[("GET", "/events")] = lambda _request: (
        200,
        "".join(json.dumps(e) + "\n" for e in lines).encode(),
    )
    since = datetime(2026, 12, 7, 12, 0, 0, 250000, tzinfo=UTC)
    assert client.events(since=since, until=1.5, filters={"type": "container"}) == lines
    query = engine.seen[-1][2]
    assert (query["since"], query["until"]) == ([f"{since.timestamp():.9f}"], ["1.500000000"])
    assert json.loads(query["filters"][0]) == {"type": ["container"]}


def test_the_registrys_refusal_is_an_answer_but_a_silent_engine_is_not(
    engine: StandInEngine, client: EngineClient, tmp_path: Path
) -> None:
    image = "127.0.0.1:5000/offgridflow-api:v9.9.9"
    engine.routes[("GET", f"/distribution/{image}/json")] = answer(404, {"message": "manifest unknown"})
    assert client.pull_refusal(image) == "manifest unknown"
    engine.routes[("GET", f"/distribution/{image}/json")] = answer(200, {"Descriptor": {}})
    assert client.pull_refusal(image) is None
    with (
        EngineClient(f"unix://{tmp_path / 'no-engine.sock'}", timeout=1) as silent,
        pytest.raises(EngineError) as unanswered,
    ):
        silent.pull_refusal(image)
    assert unanswered.value.status_code is None


def test_a_wait_past_its_bound_is_an_engine_timeout(engine: StandInEngine, client: EngineClient) -> None:
    def slow(_request: dict[str, Any]) -> tuple[int, bytes]:
        time.sleep(SLOW_WAIT)
        return 200, b'{"StatusCode": 0}'

    engine.routes[("POST", "/containers/one-off/wait")] = slow
    started = time.monotonic()
    with pytest.raises(EngineTimeout):
        client.wait("one-off", timeout=WAIT_BOUND)
    assert time.monotonic() - started < SLOW_WAIT


def test_environment_proxies_are_never_used_for_the_engine(
    engine: StandInEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")  # nothing listens there
    engine.routes[("GET", "/_ping")] = lambda _request: (200, b"OK")
    with EngineClient(f"unix://{engine.server_address}", timeout=2) as client:
        client.ping()


@pytest.mark.parametrize(
    ("endpoint", "tls"),
    [
        ("ssh://admin@engine.example", False),
        ("npipe:////./pipe/docker_engine", False),
        ("tcp://10.0.0.9:2376", True),
    ],
)
def test_an_endpoint_it_cannot_speak_to_is_refused_in_one_line(
    endpoint: str, tls: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if tls:
        monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    with pytest.raises(EngineError) as refused:
        EngineClient(endpoint)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(f"DOCKER_HOST={endpoint!r}: only unix:// and tcp://")
