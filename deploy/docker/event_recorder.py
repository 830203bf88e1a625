#!/usr/bin/env python3
"""Keeps the local stack's container events, which the engine itself forgets after 256 events.

Health checks add three events every few seconds, so the engine's buffer covers well under a
minute; the driver needs the ``die``/``oom``/``kill`` history of a whole game day. This streams
``GET /events`` from the Docker socket (filtered to the stack's label, exec events dropped) and
appends each event as a JSON line to EVENT_RECORDER_FILE.
"""

import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

SOCKET = os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock")
OUTPUT = os.environ.get("EVENT_RECORDER_FILE", "/state/engine-events.jsonl")
LABEL = os.environ.get("EVENT_RECORDER_LABEL", "com.offgridflow.stack=local")
RECONNECT_SECONDS = 1.0


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
    return last


def main() -> None:
    since = time.time()
    while True:
        try:
            since = stream(since)
        except (OSError, http.client.HTTPException, ValueError) as error:
            print(f"event stream interrupted: {error}", file=sys.stderr, flush=True)
        time.sleep(RECONNECT_SECONDS)


if __name__ == "__main__":
    main()
