#!/usr/bin/env python3
"""Keeps the local stack's container events, which the engine itself forgets after 256 events.

Health checks add three events every few seconds, so the engine's buffer covers well under a
minute; the driver needs the ``die``/``oom``/``kill`` history of a whole game day. This streams
``GET /events`` from the Docker socket (filtered to the stack's label, exec events dropped) and
appends each event as a JSON line to EVENT_RECORDER_FILE.

It also serves the containers' restart counts on 127.0.0.1:9096/metrics as
``kube_pod_container_status_restarts_total`` (the kube-state-metrics series the ``PodCrashLooping``
alert reads), so that alert means the same on the local stack as in a cluster.

And it restarts what ``docker kill`` ended, as a kubelet restarts a killed container: the engine
treats ``docker kill`` like ``docker stop`` and cancels the restart policy. A ``kill`` then ``die``
with no ``stop``, ``start`` or ``destroy`` within KILL_GRACE_SECONDS is a ``docker kill`` (``docker
stop``, ``restart`` and ``rm -f`` send those); the container is started again unless its label
``com.offgridflow.restart-after-kill`` is ``false`` (the database: a killed database stays down
until the runbook's Fix 1, the failure mode the game day causes).
"""

import http.client
import itertools
import json
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SOCKET = os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock")
OUTPUT = os.environ.get("EVENT_RECORDER_FILE", "/state/engine-events.jsonl")
LABEL = os.environ.get("EVENT_RECORDER_LABEL", "com.offgridflow.stack=local")
RECONNECT_SECONDS = 1.0
METRICS_PORT = int(os.environ.get("EVENT_RECORDER_METRICS_PORT", "9096"))
NAMESPACE = "offgridflow"
# Container names of the runbook's pods: the API pod's container is called `api`.
CONTAINER_NAMES = {"offgridflow-api": "api"}
KILL_GRACE_SECONDS = float(os.environ.get("EVENT_RECORDER_KILL_GRACE_SECONDS", "2"))
RESTART_AFTER_KILL_LABEL = "com.offgridflow.restart-after-kill"
# What an operator's stop, restart or removal adds after the `die`; a `docker kill` adds none of them.
_DELIBERATE = {"stop", "start", "destroy", "restart"}
# Per container: its recent actions, each with a number that only grows.
_recent: dict[str, list[tuple[int, str]]] = {}
_counter = itertools.count()
_actions_lock = threading.Lock()


class UnixConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(SOCKET)


def stream(since: float) -> float:
    """Append events from ``since`` until the connection ends; returns the last event's time."""
    filters = json.dumps({"type": ["container"], "label": [LABEL]})
    query = urllib.parse.urlencode({"since": f"{since:.9f}", "filters": filters})
    connection = UnixConnection("docker")
    connection.request("GET", f"/events?{query}")
    response = connection.getresponse()
    if response.status != 200:
        raise OSError(f"GET /events answered {response.status}")
    last = since
    with open(OUTPUT, "a", encoding="utf-8") as output:
        while line := response.readline():
            event = json.loads(line)
            if str(event.get("Action", "")).startswith("exec_"):
                continue
            output.write(json.dumps(event) + "\n")
            output.flush()
            last = int(event.get("timeNano", 0)) / 1e9 or last
            supervise(event)
    return last


def supervise(event: dict[str, Any]) -> None:
    """Note the event; after a ``kill`` then ``die``, check back in KILL_GRACE_SECONDS."""
    identifier, action = str(event.get("id", "")), str(event.get("Action", "")).split(":")[0]
    with _actions_lock:
        if action == "destroy":
            _recent.pop(identifier, None)
            return
        recent = _recent.setdefault(identifier, [])
        number = next(_counter)
        recent.append((number, action))
        del recent[:-8]
        killed = action == "die" and len(recent) >= 2 and recent[-2][1] == "kill"
    if killed:
        threading.Timer(KILL_GRACE_SECONDS, restart_if_killed, (identifier, number)).start()


def _engine_post(path: str) -> int:
    connection = UnixConnection("docker")
    try:
        connection.request("POST", path)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    return response.status


def restart_if_killed(identifier: str, marker: int) -> None:
    """Start the container again when nothing but its ``docker kill`` happened to it since."""
    with _actions_lock:
        if identifier not in _recent:
            return  # removed meanwhile
        later = {action for number, action in _recent[identifier] if number > marker}
    if _DELIBERATE & later:
        return
    try:
        details = _engine_get(f"/containers/{identifier}/json")
        labels = details["Config"]["Labels"] or {}
        if details["State"]["Status"] != "exited" or labels.get(RESTART_AFTER_KILL_LABEL) == "false":
            return
        status = _engine_post(f"/containers/{identifier}/start")
    except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
        print(f"could not restart {identifier[:12]} after docker kill: {error}", file=sys.stderr, flush=True)
        return
    print(f"started {details['Name'].lstrip('/')} again after docker kill ({status})", flush=True)


def _engine_get(path: str) -> Any:
    connection = UnixConnection("docker")
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"GET {path} answered {response.status}")
    return json.loads(body)


def restart_metrics() -> str:
    """One ``kube_pod_container_status_restarts_total`` sample per container of the stack."""
    query = urllib.parse.urlencode({"all": "1", "filters": json.dumps({"label": [LABEL]})})
    lines = [
        "# HELP kube_pod_container_status_restarts_total Restarts of the container (Docker RestartCount).",
        "# TYPE kube_pod_container_status_restarts_total counter",
    ]
    for summary in _engine_get(f"/containers/json?{query}"):
        try:
            details = _engine_get(f"/containers/{summary['Id']}/json")
        except OSError:
            continue  # removed between the listing and the inspection
        name = details["Name"].lstrip("/")
        app = details["Config"]["Labels"].get("app", name)
        labels = (
            f'namespace="{NAMESPACE}",pod="{name}",container="{CONTAINER_NAMES.get(name, name)}",app="{app}"'
        )
        lines.append(f"kube_pod_container_status_restarts_total{{{labels}}} {details['RestartCount']}")
    return "\n".join(lines) + "\n"


class MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        try:
            body, status = restart_metrics().encode(), 200
        except (OSError, http.client.HTTPException, ValueError) as error:
            body, status = f"engine unavailable: {error}\n".encode(), 503
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    # As PID 1 the process would ignore SIGTERM and `docker stop` would wait for its timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = ThreadingHTTPServer(("127.0.0.1", METRICS_PORT), MetricsHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    since = time.time()
    while True:
        try:
            since = stream(since)
        except (OSError, http.client.HTTPException, ValueError) as error:
            print(f"event stream interrupted: {error}", file=sys.stderr, flush=True)
        time.sleep(RECONNECT_SECONDS)


if __name__ == "__main__":
    main()
