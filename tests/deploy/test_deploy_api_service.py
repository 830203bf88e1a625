"""The local stack's API Service (deploy/docker/api_service.py): a TCP proxy that forwards only while
its selector matches a ready container, and resets at once when it matches none."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from helpers.deploy_files import REPO_ROOT
from helpers.local_http import answer_json, serving


@pytest.fixture
def proxy_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO_ROOT / "deploy/docker"))  # stack_engine.py, as in the image
    spec = importlib.util.spec_from_file_location("api_service", REPO_ROOT / "deploy/docker/api_service.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "SELECTOR_FILE", str(tmp_path / "api-service.json"))
    return module


class Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        answer_json(self, 200, {"path": self.path})

    def log_message(self, format: str, *args: object) -> None:
        pass


class Engine:
    """The Docker socket's answers: one API container, ready or not; counts the listings."""

    def __init__(self, labels: dict[str, str], health: str = "healthy") -> None:
        self.labels, self.health, self.listings = labels, health, 0

    def get(self, path: str) -> object:
        if path.startswith("/containers/json"):
            self.listings += 1
            return [{"Id": "api", "Labels": self.labels}]
        return {"State": {"Running": True, "Restarting": False, "Health": {"Status": self.health}}}


API_LABELS = {"com.offgridflow.stack": "local", "app": "offgridflow-api"}


@pytest.fixture
def service(proxy_module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Engine]]:
    """The proxy on a free port in front of a stand-in API; yields its URL and the stand-in engine."""
    engine = Engine(API_LABELS)
    monkeypatch.setattr(proxy_module, "_engine_get", engine.get)
    monkeypatch.setattr(proxy_module, "SELECTOR_CACHE_SECONDS", 0.0)  # each connection looks again
    with serving(Api) as api_url:
        monkeypatch.setattr(proxy_module, "TARGET_PORT", int(api_url.rsplit(":", 1)[1]))
        server = proxy_module.Server(("127.0.0.1", 0), proxy_module.Forward)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}", engine
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def test_a_selected_ready_container_gets_the_traffic(service: tuple[str, Engine]) -> None:
    url, _engine = service
    answer = httpx.get(f"{url}/health/ready", timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"path": "/health/ready"}


def test_a_selector_matching_no_container_resets_at_once(service: tuple[str, Engine], tmp_path: Path) -> None:
    url, _engine = service
    selector = {"app": "offgridflow-api", "offgridflow.io/chaos": "network"}
    (tmp_path / "api-service.json").write_text(json.dumps({"selector": selector}))
    started = time.monotonic()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health/ready", timeout=5)
    assert time.monotonic() - started < 1.0  # refused, not held open until a timeout
    (tmp_path / "api-service.json").write_text(json.dumps({"selector": {"app": "offgridflow-api"}}))
    assert httpx.get(f"{url}/health/ready", timeout=5).status_code == 200  # put back: no restart


def test_a_selected_container_that_is_not_ready_gets_no_traffic(service: tuple[str, Engine]) -> None:
    url, engine = service
    engine.health = "unhealthy"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health/ready", timeout=5)


def test_an_unreadable_selector_routes_nowhere(service: tuple[str, Engine], tmp_path: Path) -> None:
    url, _engine = service
    (tmp_path / "api-service.json").write_text("{not json")
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health/ready", timeout=5)
    (tmp_path / "api-service.json").unlink()  # no file: the stack's own selector
    assert httpx.get(f"{url}/health/ready", timeout=5).status_code == 200


def test_the_engine_is_asked_at_most_once_a_cache_period(
    proxy_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(API_LABELS)
    monkeypatch.setattr(proxy_module, "_engine_get", engine.get)
    assert [proxy_module.cached_ready_endpoints() for _ in range(5)] == [1] * 5
    assert engine.listings == 1


def test_nothing_listening_upstream_is_a_reset_too(
    proxy_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    monkeypatch.setattr(proxy_module, "TARGET_PORT", free)
    monkeypatch.setattr(proxy_module, "_engine_get", Engine(API_LABELS).get)
    server = proxy_module.Server(("127.0.0.1", 0), proxy_module.Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{server.server_address[1]}/", timeout=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
