#!/usr/bin/env python3
"""A webhook receiver for Alertmanager: POST /alerts stores a delivery, GET /deliveries lists them.

Deliveries are kept in memory and appended to a JSON file (ALERT_RECEIVER_FILE) so they survive a restart.
"""

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STORE = Path(os.environ.get("ALERT_RECEIVER_FILE", "/data/deliveries.json"))
LOCK = threading.Lock()


def _load() -> list:
    try:
        return json.loads(STORE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []


DELIVERIES = _load()


class Handler(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/alerts":
            self._answer(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._answer(400, {"error": "body is not JSON"})
            return
        with LOCK:
            DELIVERIES.append({"received_at": time.time(), "payload": payload})
            temporary = STORE.with_suffix(".tmp")
            temporary.write_text(json.dumps(DELIVERIES), encoding="utf-8")
            temporary.replace(STORE)
        self._answer(200, {"stored": len(DELIVERIES)})

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/deliveries":
            with LOCK:
                self._answer(200, list(DELIVERIES))
        elif self.path.rstrip("/") in ("/health", "/-/healthy"):
            self._answer(200, {"status": "ok"})
        else:
            self._answer(404, {"error": "not found"})

    def do_DELETE(self) -> None:
        if self.path.rstrip("/") != "/deliveries":
            self._answer(404, {"error": "not found"})
            return
        with LOCK:
            DELIVERIES.clear()
            STORE.write_text("[]", encoding="utf-8")
        self._answer(200, {"stored": 0})

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


if __name__ == "__main__":
    # As PID 1 the process would ignore SIGTERM and `docker stop` would wait for its timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(os.environ.get("ALERT_RECEIVER_PORT", "9095"))
    # 127.0.0.1 on the local stack; in a pod (kind) 0.0.0.0, so the game day reads it through a Service.
    bind = os.environ.get("ALERT_RECEIVER_BIND", "127.0.0.1")
    ThreadingHTTPServer((bind, port), Handler).serve_forever()
