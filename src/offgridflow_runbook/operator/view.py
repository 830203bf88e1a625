"""The live view for the people in the room: a small page on 127.0.0.1 that refreshes by itself.

``GET /`` is the page (a ``<meta http-equiv="refresh">`` every two seconds, so it needs no script):
the clock since the fault, the current phase, the page as delivered, the calls made, each budget as it
runs out, and the terminal's last lines. ``GET /state.json`` is the same state as JSON. Everything
shown from the target or the people is HTML-escaped. The server binds 127.0.0.1 only.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LiveView", "render_page"]

REFRESH_S = 2


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f}s"


def render_page(state: dict[str, Any]) -> str:
    """The live view's HTML for one state (:meth:`OperatorGameDay.view`)."""
    page = state.get("page")
    delivered = (
        f"<b>{_e(page['alert'])}</b> to {_e(page['receiver'])}: {_e(page['summary'])}" if page else "not yet"
    )
    calls = (
        "".join(
            f"<li>{_e(call['section'])} at {_seconds(call['after_fault_s'])}"
            f"{'' if call['right'] is None else (' - right' if call['right'] else ' - wrong')}</li>"
            for call in state.get("calls", [])
        )
        or "<li>none yet</li>"
    )
    budgets = "".join(
        f'<tr class="{"done" if b["done"] else "over" if (b["left_s"] or 0) < 0 else "running"}">'
        f"<td>{_e(phase)}</td><td>{_e(b.get('heading', b['budget']))} {_seconds(b['budget_s'])}</td>"
        f"<td>{_seconds(b['elapsed_s'])}</td><td>{_seconds(b['left_s'])}</td>"
        f"<td>{'met' if b['met'] else ('missed' if b['done'] else '')}</td></tr>"
        for phase, b in state.get("budgets", {}).items()
    )
    fix = state.get("fix_seen")
    fix_text = f"{_e(fix['section'])}: {_e(fix['change'])}" if fix else "not yet"
    lines = "\n".join(_e(line) for line in state.get("lines", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_S}">
<title>Operator game day: {_e(state.get("phase"))}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} #clock{{font-size:3em}} #phase{{font-size:2em}}
tr.over td{{color:#b00}} tr.done td{{color:#070}} pre{{background:#eee;padding:.5em}}</style></head>
<body>
<div id="clock">T+{_seconds(state.get("clock_s"))}</div>
<div>phase: <span id="phase" data-phase="{_e(state.get("phase"))}">{_e(state.get("phase"))}</span>
 &middot; outcome: <span id="outcome">{_e(state.get("outcome"))}</span></div>
<p>target {_e(state.get("target"))} &middot; mode {_e(state.get("mode"))}
 &middot; SLA {_seconds(state.get("sla_s"))},
 the suite fixes it itself at {_seconds(state.get("auto_fix_at_s"))}</p>
<h2>The page</h2><p id="page">{delivered}</p>
<h2>Calls</h2><ul id="calls">{calls}</ul>
<h2>Fix seen</h2><p id="fix">{fix_text}</p>
<h2>Budgets</h2><table id="budgets">
<tr><th>phase</th><th>runbook budget</th><th>elapsed</th><th>left</th><th></th></tr>
{budgets}</table>
<h2>Log</h2><pre id="log">{lines}</pre>
</body></html>
"""


class LiveView:
    """The live view's server on 127.0.0.1 (``port`` 0: any free port), in a daemon thread."""

    def __init__(self, state: Callable[[], dict[str, Any]], port: int = 0) -> None:
        view = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/state.json":
                    body, kind = json.dumps(view.state(), default=str).encode(), "application/json"
                elif self.path in ("/", "/index.html"):
                    body, kind = render_page(view.state()).encode(), "text/html; charset=utf-8"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the terminal shows the game day, not each refresh

        self.state = state
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="operator-view", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def __enter__(self) -> LiveView:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
