"""Prometheus metrics, served on their own port (8081): requests, latency, pool and process metrics.

`path` labels are route templates (`/v1/activities/{activity_id}`), never raw URLs, so an attacker or
a crawler cannot blow up the series count; unmatched paths share one label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED_PATH = "<unmatched>"

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests served, by method, route template and status",
    ["method", "path", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to serve an HTTP request, by method and route template",
    ["method", "path"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_PATH


class RequestMetricsMiddleware:
    """ASGI middleware counting and timing every HTTP request; calls `on_response` for request logs."""

    def __init__(
        self, app: ASGIApp, on_response: Callable[[str, str, int, float], None] | None = None
    ) -> None:
        self.app = app
        self.on_response = on_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            elapsed = time.perf_counter() - started
            method, path = scope["method"], route_template(scope)
            HTTP_REQUESTS.labels(method, path, str(status)).inc()
            HTTP_DURATION.labels(method, path).observe(elapsed)
            if self.on_response:
                self.on_response(method, path, status, elapsed)


class PoolCollector(Collector):
    """Gauges read from the connection pool's statistics at scrape time."""

    def __init__(self, stats: Callable[[], dict[str, int]], database_up: Callable[[], bool]) -> None:
        self._stats = stats
        self._database_up = database_up

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._stats()
        for key, help_text in (
            ("pool_size", "Connections in the pool: idle, in use and being prepared"),
            ("pool_available", "Idle connections ready to use"),
            ("requests_waiting", "Requests waiting for a connection"),
            ("pool_max", "Maximum pool size"),
        ):
            yield GaugeMetricFamily(f"offgridflow_db_{key}", help_text, value=stats.get(key, 0))
        yield GaugeMetricFamily(
            "offgridflow_db_up",
            "1 when the last database probe succeeded",
            value=1 if self._database_up() else 0,
        )


def serve_metrics(bind: str, port: int, registry: CollectorRegistry = REGISTRY) -> WSGIServer:
    """Start the /metrics HTTP server in a background thread; returns the server."""
    server, _thread = start_http_server(port, addr=bind, registry=registry)
    return server
