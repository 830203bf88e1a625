"""``/metrics`` and ``/healthz`` over a small stdlib HTTP server (no new dependency).

Only GET and HEAD are answered; the server holds no state of its own, it renders the
:class:`~offgridflow_runbook.monitor.metrics.MonitorState` at each scrape.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from offgridflow_runbook.monitor.metrics import CONTENT_TYPE, MonitorState

__all__ = ["MetricsServer", "parse_listen"]


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``127.0.0.1:9097``, ``[::1]:9097``, ``0.0.0.0:9097`` in a pod); ValueError if not."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT such as 127.0.0.1:9097")
    return host, int(port)


# a scrape sends its request at once; a client silent for this long is a scanner or a stuck peer
CLIENT_TIMEOUT_S = 30.0


class MetricsServer:
    """Serve the state's metrics on ``address`` in a daemon thread until :meth:`close`.

    ``healthy()`` answers ``/healthz``: (True, "ok") while the monitor's loop is sound."""

    def __init__(
        self,
        address: tuple[str, int],
        state: MonitorState,
        healthy: Callable[[], tuple[bool, str]],
        *,
        client_timeout: float = CLIENT_TIMEOUT_S,
    ) -> None:
        # client_timeout: how long a connection may stay silent (before its request, or between its
        # keep-alive requests) before the server closes it; each connection holds a thread until then
        attributes = {"state": state, "healthy": staticmethod(healthy), "timeout": client_timeout}
        handler = type("Handler", (_Handler,), attributes)
        # an IPv6 literal ([::1]:9097 once parsed) needs a socket of its family; the stdlib's is IPv4
        server = _Server6 if ":" in address[0] else _Server
        self._server = server(address, handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="monitor-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = str(self._server.server_address[0]), self._server.server_address[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # a restarted monitor binds again at once
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    state: MonitorState
    healthy: Callable[[], tuple[bool, str]]
    server_version = "offgridflow-synthetic-monitor"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            status, content_type, text = 200, CONTENT_TYPE, self.state.render()
        elif path == "/healthz":
            ok, why = self.healthy()
            status, content_type, text = (200 if ok else 503), "text/plain; charset=utf-8", why + "\n"
        else:
            status, content_type, text = (
                404,
                "text/plain; charset=utf-8",
                "not found: try /metrics or /healthz\n",
            )
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged: one line every 15 s would bury the run lines."""
