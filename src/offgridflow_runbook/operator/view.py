"""The live view for the people in the room: a small page on 127.0.0.1 that refreshes by itself.

``GET /`` is the page (a ``<meta http-equiv="refresh">`` every two seconds): the clock since the
fault, the current phase, the page as delivered, the calls made, each budget as it runs out, and the
terminal's last lines. ``GET /state.json`` is the same state as JSON. Everything shown from the target
or the people is HTML-escaped. The server binds 127.0.0.1 only.

Acknowledging from the view: the **Acknowledge** button, or the key ``a`` anywhere on the page, posts
``POST /ack`` with the view's token; the server then says ``ack`` through the same callable as
``offgridflow-runbook gameday ack`` (the desk), so the run has one source of truth and the ack is timed
when the game day reads it, as any other. Another page open in the same browser must not ack by a
cross-site request: the token is drawn anew for every run and only this page carries it, only POST
acks, the ``Host`` must be this server's (a DNS-rebinding page is refused) and a foreign ``Origin`` is
refused; the page cannot be framed.
"""

from __future__ import annotations

import hmac
import html
import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

__all__ = ["ACK_KEY", "LiveView", "render_page"]

REFRESH_S = 2
ACK_KEY = "a"  # the key that acknowledges, anywhere on the page
_MAX_FORM_BYTES = 1024  # the ack form is one token; anything longer is not ours


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f}s"


def _ack_block(state: dict[str, Any], token: str | None, sent: bool) -> str:
    """The ack: done (with its time), sent and not yet read by the game day, or the button and key."""
    acked_s = (state.get("reached_s") or {}).get("acknowledged")
    if acked_s is not None:
        return f'<p id="ack" data-acked="yes">acknowledged at T+{_seconds(acked_s)}</p>'
    if token is None:
        return '<p id="ack" data-acked="no">not yet (<code>offgridflow-runbook gameday ack</code>)</p>'
    if sent:
        return '<p id="ack" data-acked="sent">ack sent; the game day reads it on its next look</p>'
    return f"""<form id="ack" data-acked="no" method="post" action="/ack">
<input type="hidden" name="token" value="{_e(token)}">
<button type="submit">Acknowledge</button> (or press <kbd>{ACK_KEY}</kbd>)</form>
<script>
document.addEventListener("keydown", function (event) {{
  if (event.key === "{ACK_KEY}" && !event.ctrlKey && !event.metaKey && !event.altKey && !event.repeat) {{
    var form = document.getElementById("ack");
    if (form && form.tagName === "FORM") {{ form.submit(); }}
  }}
}});
</script>"""


def render_page(state: dict[str, Any], token: str | None = None, *, ack_sent: bool = False) -> str:
    """The live view's HTML for one state (:meth:`OperatorGameDay.view`); with ``token`` (the live
    view's), the page can acknowledge (button and key), else it says how to with the command."""
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
<h2>Acknowledged</h2>{_ack_block(state, token, ack_sent)}
<h2>Calls</h2><ul id="calls">{calls}</ul>
<h2>Fix seen</h2><p id="fix">{fix_text}</p>
<h2>Budgets</h2><table id="budgets">
<tr><th>phase</th><th>runbook budget</th><th>elapsed</th><th>left</th><th></th></tr>
{budgets}</table>
<h2>Log</h2><pre id="log">{lines}</pre>
</body></html>
"""


class LiveView:
    """The live view's server on 127.0.0.1 (``port`` 0: any free port), in a daemon thread.

    ``ack`` is what ``POST /ack`` with the right token calls: the desk's ``send("ack")``, as the
    command line's ``gameday ack`` (None: the page cannot acknowledge). Its :class:`ValueError` (no
    game day running) is answered 409 with its text."""

    def __init__(
        self, state: Callable[[], dict[str, Any]], port: int = 0, ack: Callable[[], object] | None = None
    ) -> None:
        view = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/state.json":
                    body, kind = json.dumps(view.state(), default=str).encode(), "application/json"
                elif self.path in ("/", "/index.html"):
                    token = view.token if view.ack is not None else None
                    page = render_page(view.state(), token, ack_sent=view.ack_sent)
                    body, kind = page.encode(), "text/html; charset=utf-8"
                elif self.path == "/ack":
                    self._answer(405, "acknowledge with POST (the page's button or key)", allow="POST")
                    return
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                # no other page may frame this one and trick a click on its button
                self.send_header("X-Frame-Options", "DENY")
                self.send_header("Content-Security-Policy", "frame-ancestors 'none'")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                if self.path != "/ack":
                    self.send_error(404)
                    return
                refused = view.refused(
                    self.headers.get("Host"), self.headers.get("Origin"), self._form().get("token")
                )
                if refused:
                    self._answer(403, refused)
                    return
                if view.ack is None:
                    self._answer(404, "this view cannot acknowledge; `offgridflow-runbook gameday ack`")
                    return
                try:
                    view.ack()
                except ValueError as error:  # the desk's: no game day is running
                    self._answer(409, str(error))
                    return
                view.ack_sent = True
                self.send_response(303)  # back to the page, which shows the ack
                self.send_header("Location", "/")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _form(self) -> dict[str, str]:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = 0
                if not 0 < length <= _MAX_FORM_BYTES:
                    return {}
                fields = parse_qs(self.rfile.read(length).decode("ascii", "replace"))
                return {name: values[0] for name, values in fields.items() if values}

            def _answer(self, status: int, text: str, allow: str = "") -> None:
                body = (text + "\n").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                if allow:
                    self.send_header("Allow", allow)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the terminal shows the game day, not each refresh

        self.state = state
        self.ack = ack
        self.ack_sent = False  # an ack went to the desk; the game day has not read it yet
        self.token = secrets.token_urlsafe(32)  # drawn anew for every run; only the page carries it
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="operator-view", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def refused(self, host: str | None, origin: str | None, token: str | None) -> str:
        """Why a ``POST /ack`` is refused ("" when it is this page's own)."""
        port = self.server.server_address[1]
        hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        if host not in hosts:  # a DNS-rebinding page names its own host
            return f"Host {host!r} is not this live view's"
        if origin is not None and origin not in {f"http://{name}" for name in hosts}:
            return f"Origin {origin!r} is not this live view's page"
        if token is None or not hmac.compare_digest(token.encode(), self.token.encode()):
            return "no or wrong token: acknowledge from the live view's own page"
        return ""

    def __enter__(self) -> LiveView:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
