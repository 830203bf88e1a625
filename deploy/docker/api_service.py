#!/usr/bin/env python3
"""The local stack's ``offgridflow-api-service``: the API's Service, as a small TCP routing proxy.

It listens where users, probes and the synthetic monitor address the API (API_SERVICE_PORT,
127.0.0.1:8080) and forwards each connection to API_SERVICE_TARGET_PORT (the API container's own
port) when at least one *ready* container of the stack carries every label of the selector, as
kube-proxy forwards to the ready endpoints of a Service. The selector is read from
API_SERVICE_FILE (``.state/api-service.json``, written by the docker driver's
``set_api_service_selector``) at most SELECTOR_CACHE_SECONDS old, so a changed selector applies
within a second, with no restart; a missing file means ``app=offgridflow-api``.

A selector that matches no ready container is a Service without endpoints: the connection is reset
at once (kube-proxy rejects it), never held open. Ready means what the event recorder reports as
``kube_pod_container_status_ready``: running, not restarting, and its health check ``healthy``.
"""

import contextlib
import http.client
import json
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
from typing import Any

from stack_engine import engine_get as _engine_get

# beside this file in the tools image (/usr/local/bin): the engine's socket and the Service's selector
from stack_engine import is_ready, read_selector, selects

LABEL = os.environ.get("API_SERVICE_STACK_LABEL", "com.offgridflow.stack=local")
PORT = int(os.environ.get("API_SERVICE_PORT", "8080"))
TARGET_PORT = int(os.environ.get("API_SERVICE_TARGET_PORT", "8082"))
SELECTOR_FILE = os.environ.get("API_SERVICE_FILE", "/state/api-service.json")
SELECTOR_CACHE_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 2.0
BUFFER = 65536

_cache: dict[str, Any] = {"at": float("-inf"), "ready": 0}
_cache_lock = threading.Lock()


def ready_endpoints() -> int:
    """How many running containers of the stack the selector matches and are ready (0 on any doubt)."""
    selector = read_selector(SELECTOR_FILE)
    if selector is None:
        return 0
    query = urllib.parse.urlencode({"filters": json.dumps({"label": [LABEL]})})
    ready = 0
    for summary in _engine_get(f"/containers/json?{query}"):
        if not selects(selector, summary.get("Labels") or {}):
            continue
        try:
            details = _engine_get(f"/containers/{summary['Id']}/json")
        except OSError:
            continue  # removed between the listing and the inspection
        ready += is_ready(details["State"])
    return ready


def cached_ready_endpoints() -> int:
    """:func:`ready_endpoints`, at most SELECTOR_CACHE_SECONDS old (one engine look per second)."""
    with _cache_lock:
        now = time.monotonic()
        if now - _cache["at"] >= SELECTOR_CACHE_SECONDS:
            try:
                _cache["ready"] = ready_endpoints()
            except (OSError, http.client.HTTPException, ValueError) as error:
                print(f"cannot read the endpoints from the engine: {error}", file=sys.stderr, flush=True)
                _cache["ready"] = 0
            _cache["at"] = now
        return int(_cache["ready"])


def reset(connection: socket.socket) -> None:
    """Close with a TCP reset: the client learns at once that nobody serves (no half-open wait)."""
    with contextlib.suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy until ``source`` ends, then end ``sink``'s writing side (the other direction goes on)."""
    try:
        while data := source.recv(BUFFER):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


class Forward(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        client: socket.socket = self.request
        if cached_ready_endpoints() == 0:
            reset(client)
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", TARGET_PORT), timeout=CONNECT_TIMEOUT_SECONDS)
        except OSError:
            reset(client)
            return
        upstream.settimeout(None)
        back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        back.start()
        pipe(client, upstream)
        back.join()
        upstream.close()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main() -> None:
    # As PID 1 the process would ignore SIGTERM and `docker stop` would wait for its timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Server(("127.0.0.1", PORT), Forward) as server:
        print(f"offgridflow-api-service on 127.0.0.1:{PORT} -> 127.0.0.1:{TARGET_PORT}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
