"""The local stack's API Service: its selector in ``.state/``, and the driver reading it as Endpoints
(which of its published ports answer, over plain http with no CA bundle loaded)."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from helpers.docker_fakes import container, platform
from offgridflow_runbook.platforms.base import PlatformError
from offgridflow_runbook.platforms.docker import driver, health, service
from offgridflow_runbook.platforms.docker.engine_client import ContainerInfo
from offgridflow_runbook.platforms.docker.names import API, API_SERVICE_FILE, STACK_LABEL, STACK_VALUE

BROKEN = {"app": API, "offgridflow.io/chaos": "network"}


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OFFGRIDFLOW_STATE_DIR", str(tmp_path))
    return tmp_path


def test_without_a_file_the_service_selects_the_api_as_the_stack_creates_it(state: Path) -> None:
    assert service.read_selector() == {"app": API}
    assert not (state / API_SERVICE_FILE).exists()  # reading writes nothing


def test_a_written_selector_is_read_back_whole(state: Path) -> None:
    service.write_selector(BROKEN)
    assert service.read_selector() == BROKEN
    service.write_selector({"app": API})
    assert service.read_selector() == {"app": API}  # replaced, the chaos key did not survive
    assert json.loads((state / API_SERVICE_FILE).read_text()) == {"selector": {"app": API}}


@pytest.mark.parametrize("text", ["{not json", '{"selector": ["app"]}', '{"selector": {"app": 1}}', "[]"])
def test_an_unreadable_selector_is_a_platform_error_naming_the_file(state: Path, text: str) -> None:
    (state / API_SERVICE_FILE).write_text(text)
    with pytest.raises(PlatformError, match=API_SERVICE_FILE):
        service.read_selector()


def test_an_empty_selector_is_refused(state: Path) -> None:
    with pytest.raises(PlatformError, match="at least one label"):
        service.write_selector({})
    assert not (state / API_SERVICE_FILE).exists()


def test_a_selector_matches_labels_carrying_every_key_with_its_value() -> None:
    labels = {STACK_LABEL: STACK_VALUE, "app": API}
    assert service.matches(labels, {"app": API})
    assert not service.matches(labels, BROKEN)
    assert not service.matches(labels, {"app": "postgres"})


def api_container(*, health: str | None = "healthy", status: str = "running") -> ContainerInfo:
    """The API's container as the engine inspects it: the stack's labels and its state."""
    return container(
        "offgridflow-api",
        labels={STACK_LABEL: STACK_VALUE, "app": API},
        Status=status,
        **({"Health": {"Status": health}} if health else {}),
    )


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The ports that give an HTTP answer (the Service's only while it has an endpoint)."""
    ports: set[int] = set()
    monkeypatch.setattr(driver, "_answers_http", lambda port: port in ports)
    return ports


def test_a_healthy_stack_has_one_ready_endpoint_and_both_ports_answering(
    state: Path, answering: set[int]
) -> None:
    answering |= {8080, 8081}
    seen = platform([api_container()])
    network = seen.network()
    # only the API's containers of this stack are candidates, as only pods of its namespace are
    assert seen._engine.labels == [[f"{STACK_LABEL}={STACK_VALUE}", f"app={API}"]]  # type: ignore[attr-defined]
    assert (network.ready_endpoints, network.not_ready_endpoints) == (1, 0)
    assert network.service_selector == (("app", API),)
    assert network.selected_pods == 1
    assert network.published == ("127.0.0.1:8080", "127.0.0.1:8081")


def test_a_broken_selector_selects_no_pod_while_the_api_is_ready(state: Path, answering: set[int]) -> None:
    answering |= {8081}  # the Service resets its connections; the API's own metrics port still answers
    seen = platform([api_container()])
    seen.set_api_service_selector(BROKEN)
    network = seen.network()
    assert (network.ready_endpoints, network.not_ready_endpoints) == (0, 0)
    assert network.selected_pods == 0
    assert network.service_selector == (("app", API), ("offgridflow.io/chaos", "network"))
    assert "selects 0 API container(s)" in network.detail
    assert network.published == ("127.0.0.1:8081",)


def test_a_selected_container_that_is_not_healthy_is_a_not_ready_endpoint(
    state: Path, answering: set[int]
) -> None:
    network = platform([api_container(health="unhealthy")]).network()
    assert (network.ready_endpoints, network.not_ready_endpoints, network.selected_pods) == (0, 1, 1)


def test_an_unreadable_selector_leaves_the_selection_unknown(state: Path, answering: set[int]) -> None:
    (state / API_SERVICE_FILE).write_text("{not json")
    network = platform([api_container()]).network()
    assert network.service_selector is None
    assert network.selected_pods is None
    assert "selector unreadable" in network.detail
    with pytest.raises(PlatformError):
        platform([]).api_service_selector()


def test_setting_the_selector_replaces_it_whole_and_again_changes_nothing(state: Path) -> None:
    seen = platform([])
    seen.set_api_service_selector(BROKEN)
    assert seen.api_service_selector() == BROKEN
    path = state / API_SERVICE_FILE
    written = path.stat().st_mtime_ns
    seen.set_api_service_selector(dict(BROKEN))
    assert path.stat().st_mtime_ns == written  # idempotent: not even rewritten
    seen.set_api_service_selector({"app": API})
    assert seen.api_service_selector() == {"app": API}


def test_a_selector_of_anything_but_strings_is_refused(state: Path) -> None:
    with pytest.raises(PlatformError, match="label names to values"):
        platform([]).set_api_service_selector({"app": 1})  # type: ignore[dict-item]
    assert service.read_selector() == {"app": API}


class _Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)  # any answer counts: the Service routed the connection
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_published_port_answers_over_plain_http_without_loading_a_ca_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(context: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loaded.append(context)
        original(context, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert driver._answers_http(int(server.server_address[1]))
        assert health.answers(f"http://127.0.0.1:{server.server_address[1]}/") is False  # 503
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = int(closed.getsockname()[1])
    assert not driver._answers_http(port)  # refused: no answer
    assert loaded == []  # plain http: no verifying context was made for it
