"""A fake OffGridFlow API and Prometheus on one 127.0.0.1 port that records every request's method,
and a targets file pointing at it (platform ``none``: nothing here reaches Docker or Kubernetes)."""

from __future__ import annotations

import json
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import yaml

from helpers.local_http import serving

TOKEN = "monitor-test-token-7d1e2b"
TOKEN_ENV = "OFFGRIDFLOW_MONITOR_TEST_TOKEN"

_JSON = {
    "/health/live": {"status": "ok"},
    "/health/ready": {"status": "healthy", "database": "ok"},
    "/v1/activities": [],
    "/api/v1/query": {"status": "success", "data": {"resultType": "vector", "result": []}},
    "/api/v1/alerts": {"status": "success", "data": {"alerts": []}},
}
_METRICS = 'http_requests_total{method="GET",path="/v1/activities",status="200"} 3\n'


@dataclass
class Recorder:
    """What the fake saw: (method, path) of each request; ``status`` overrides /v1/activities."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    activities_status: int = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def methods(self) -> set[str]:
        with self.lock:
            return {method for method, _ in self.requests}


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            path = self.path.split("?", 1)[0]
            with recorder.lock:
                recorder.requests.append((self.command, path))
            status, body, kind = 404, b"not found", "text/plain"
            if path == "/metrics":
                status, body = 200, _METRICS.encode()
            elif path in _JSON and self.command in {"GET", "HEAD"}:
                status, body, kind = 200, json.dumps(_JSON[path]).encode(), "application/json"
                if path == "/v1/activities":
                    if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                        status = 401
                    else:
                        status = recorder.activities_status
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def fake_target(recorder: Recorder, port: int = 0) -> AbstractContextManager[str]:
    """Serve the fake on 127.0.0.1:``port`` (0: a free one) for one ``with`` block; yields its URL."""
    return serving(_handler(recorder), port)


def write_targets(path: Path, url: str, *, allow_writes: bool = False) -> Path:
    """A targets file with the profile ``fake`` (HTTP only) pointing at ``url``."""
    profile = {
        "platform": "none",
        "base_url": url,
        "metrics_url": f"{url}/metrics",
        "prometheus_url": url,
        "token_env": TOKEN_ENV,
        "allow_writes": allow_writes,
    }
    path.write_text(yaml.safe_dump({"targets": {"fake": profile}}), encoding="utf-8")
    return path
