#!/usr/bin/env python3
"""A webhook receiver for Alertmanager: POST /alerts stores a delivery, GET /deliveries lists them.

Deliveries are kept in memory and in a JSON file (ALERT_RECEIVER_FILE) so they survive a restart: the
most recent ALERT_RECEIVER_MAX_DELIVERIES of them (1000 by default; the oldest go first), since every
delivery rewrites the file and a store that only grew made each read of it slower (2461 deliveries,
5 MB, after a day of game days).

GET /deliveries lists them in order of arrival; ``?since=UNIX_SECONDS`` keeps those received at or
after that time (what a game day waits for) and ``?limit=N`` the last N of those (``limit=0``: none, an
answer that only says the receiver is up). Another parameter or a bad value is a 400 with the reason.
"""

import json
import math
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

STORE = Path(os.environ.get("ALERT_RECEIVER_FILE", "/data/deliveries.json"))
LOCK = threading.Lock()
QUERY = ("since", "limit")


def _keep() -> int:
    text = os.environ.get("ALERT_RECEIVER_MAX_DELIVERIES", "1000")
    if not text.isdigit() or int(text) < 1:
        sys.exit(f"error: ALERT_RECEIVER_MAX_DELIVERIES must be a whole number above 0, not {text!r}")
    return int(text)


KEEP = _keep()


def _load() -> list:
    try:
        stored = json.loads(STORE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return stored[-KEEP:] if isinstance(stored, list) else []


def _selection(query: str) -> tuple[float | None, int | None]:
    """``since`` and ``limit`` of a GET /deliveries query; ValueError with the reason."""
    given = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(given) - set(QUERY))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}: only {', '.join(QUERY)}")
    if any(len(values) > 1 for values in given.values()):
        raise ValueError("each parameter at most once")
    since = limit = None
    if "since" in given:
        try:
            since = float(given["since"][0])
        except ValueError:
            since = math.nan
        if not math.isfinite(since):
            raise ValueError(f"since must be a Unix time in seconds, not {given['since'][0]!r}")
    if "limit" in given:
        text = given["limit"][0]
        if not text.isdigit():
            raise ValueError(f"limit must be a whole number of deliveries, not {text!r}")
        limit = int(text)
    return since, limit


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
            del DELIVERIES[:-KEEP]
            temporary = STORE.with_suffix(".tmp")
            temporary.write_text(json.dumps(DELIVERIES), encoding="utf-8")
            temporary.replace(STORE)
        self._answer(200, {"stored": len(DELIVERIES)})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path.rstrip("/") == "/deliveries":
            try:
                since, limit = _selection(parts.query)
            except ValueError as error:
                self._answer(400, {"error": str(error)})
                return
            with LOCK:
                chosen = list(DELIVERIES)
            if since is not None:
                chosen = [d for d in chosen if float(d.get("received_at", 0.0)) >= since]
            if limit is not None:
                chosen = chosen[len(chosen) - limit :] if limit else []
            self._answer(200, chosen)
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
