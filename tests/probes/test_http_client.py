"""The probes' HTTP client: its plain-http side is made with it (httpcore imported before a look's
threads start), a look over plain http loads no CA bundle; https still verifies with the
one shared context, made on the first https request. Run in a fresh interpreter: the CA bundle is
loaded once per process, and pytester's runs elsewhere in a session re-import httpcore under httpx."""

from __future__ import annotations

import subprocess
import sys

SCENARIO = """
import ssl, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from offgridflow_runbook.probes.http import ApiProbe, TlsError, shared_ssl_context
from offgridflow_runbook.targets import Target

class Live(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass

loaded = []
original = ssl.SSLContext.load_verify_locations
def counting(context, *args, **kwargs):
    loaded.append(1)
    return original(context, *args, **kwargs)
ssl.SSLContext.load_verify_locations = counting

server = ThreadingHTTPServer(("127.0.0.1", 0), Live)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}"
probe = ApiProbe(Target(name="t", platform="none", base_url=url))
# the plain-http side is ready before any read: a look's threads do not import httpcore under its lock
print("ready before the first read", "httpcore" in sys.modules)
print("http", probe.live().status, len(loaded))
try:
    probe.get(url.replace("http://", "https://") + "/health/live")
    print("https answered")
except TlsError:
    context = shared_ssl_context()
    print("https TlsError", len(loaded) > 0, context.verify_mode is ssl.CERT_REQUIRED, context.check_hostname)
probe.close()
server.shutdown()
"""


def test_plain_http_loads_no_ca_bundle_and_https_verifies_on_first_use() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCENARIO], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    # the same server over https: the handshake fails, through the verifying context made for it
    assert result.stdout.splitlines() == [
        "ready before the first read True",
        "http 200 0",
        "https TlsError True True True",
    ]
