#!/usr/bin/env python3
"""Keeps the local stack's container events, which the engine itself forgets after 256 events.

Health checks add three events every few seconds, so the engine's buffer covers well under a
minute; the driver needs the ``die``/``oom``/``kill`` history of a whole game day. This streams
``GET /events`` from the Docker socket (filtered to the stack's label, exec events dropped) and
appends each event as a JSON line to EVENT_RECORDER_FILE.

It also serves, on 127.0.0.1:9096/metrics, the kube-state-metrics series the alert rules read, so
each alert means the same on the local stack as in a cluster:

- ``kube_pod_container_status_restarts_total`` from Docker's RestartCount (``PodCrashLooping``)
- ``kube_pod_container_status_ready``: running and its health check ``healthy``
- ``kube_pod_container_status_last_terminated_reason``: ``OOMKilled`` when the engine's ``oom`` event
  came with the ``die``, else ``Error`` / ``Completed`` by exit code (``OffGridFlowAPIOOMKilled``)
- ``kube_pod_container_status_waiting_reason``: ``CrashLoopBackOff`` while Docker waits to restart a
  container, ``ErrImagePull`` / ``ImagePullBackOff`` for the pending revision of a stalled rollout
  (``OffGridFlowAPIImagePullFailing``)
- ``kube_deployment_spec_replicas`` / ``kube_deployment_status_replicas_updated`` for the API's
  rollout history in ``api-rollout.json`` (``OffGridFlowAPIRolloutStuck``)
- the Endpoints of ``offgridflow-api-service`` (the stack's routing proxy, api_service.py): the
  containers its selector in ``api-service.json`` matches, as kube-state-metrics 2.13's endpoints
  collector: ``kube_endpoint_info``, ``kube_endpoint_address_available`` (ready addresses),
  ``kube_endpoint_address_not_ready`` and ``kube_endpoint_address{ip,ready}``
  (``OffGridFlowAPINoEndpoints``)

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
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# beside this file in the tools image (/usr/local/bin): the engine's socket and the Service's selector
from stack_engine import UnixConnection, is_ready, read_selector, selects
from stack_engine import engine_get as _engine_get

OUTPUT = os.environ.get("EVENT_RECORDER_FILE", "/state/engine-events.jsonl")
LABEL = os.environ.get("EVENT_RECORDER_LABEL", "com.offgridflow.stack=local")
RECONNECT_SECONDS = 1.0
METRICS_PORT = int(os.environ.get("EVENT_RECORDER_METRICS_PORT", "9096"))
ROLLOUT_FILE = os.environ.get("EVENT_RECORDER_ROLLOUT_FILE", "/state/api-rollout.json")
SERVICE_FILE = os.environ.get("EVENT_RECORDER_SERVICE_FILE", "/state/api-service.json")
SERVICE = "offgridflow-api-service"
NAMESPACE = "offgridflow"
DEPLOYMENT = "offgridflow-api"
# The engine sends ``oom`` just before ``die``; this much apart they are one OOM kill.
OOM_DIE_SECONDS = 5.0
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


# container id -> {"reason", "at"} of its last termination; the time of its last ``oom`` event
TERMINATIONS: dict[str, dict[str, Any]] = {}
OOM_AT: dict[str, float] = {}
STATE_LOCK = threading.Lock()


def note(event: dict[str, Any]) -> None:
    """Keep each container's last termination reason from its ``oom``/``die``/``destroy`` events."""
    action = str(event.get("Action", ""))
    container = str(event.get("Actor", {}).get("ID") or event.get("id") or "")
    at = int(event.get("timeNano", 0)) / 1e9 or float(event.get("time", 0))
    with STATE_LOCK:
        if action == "oom":
            OOM_AT[container] = at
            last = TERMINATIONS.get(container)
            if last is not None and abs(at - last["at"]) <= OOM_DIE_SECONDS:
                last["reason"] = "OOMKilled"
        elif action == "die":
            exit_code = str(event.get("Actor", {}).get("Attributes", {}).get("exitCode", ""))
            if abs(at - OOM_AT.get(container, float("-inf"))) <= OOM_DIE_SECONDS:
                reason = "OOMKilled"
            else:
                reason = "Completed" if exit_code == "0" else "Error"
            TERMINATIONS[container] = {"reason": reason, "at": at}
        elif action == "destroy":
            TERMINATIONS.pop(container, None)
            OOM_AT.pop(container, None)


def replay(path: str) -> None:
    """Rebuild the terminations from the recorded events (the recorder itself may have restarted)."""
    try:
        with open(path, encoding="utf-8") as recorded:
            for line in recorded:
                try:
                    note(json.loads(line))
                except ValueError:
                    continue
    except OSError:
        pass


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
            note(event)
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


_HELP = {
    "kube_pod_container_status_restarts_total": (
        "counter",
        "Restarts of the container (Docker RestartCount).",
    ),
    "kube_pod_container_status_ready": (
        "gauge",
        "1 while the container runs and its health check is healthy.",
    ),
    "kube_pod_container_status_last_terminated_reason": ("gauge", "The reason of the last termination."),
    "kube_pod_container_status_waiting_reason": ("gauge", "Why the container is waiting to run."),
    "kube_deployment_spec_replicas": ("gauge", "Replicas the API's Deployment asks for (one container)."),
    "kube_deployment_status_replicas_updated": ("gauge", "Replicas running the latest revision."),
    "kube_endpoint_info": ("gauge", "Information about endpoint."),
    "kube_endpoint_address_available": ("gauge", "Number of addresses available in endpoint."),
    "kube_endpoint_address_not_ready": ("gauge", "Number of addresses not ready in endpoint."),
    "kube_endpoint_address": ("gauge", "Information about Endpoint available and non available addresses."),
}


def _series(name: str, labels: dict[str, str], value: float) -> str:
    text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return f"{name}{{{text}}} {value:g}"


def _rollout_series(now: float) -> list[str]:
    """The API's rollout as a Deployment: a stalled pull is a pod waiting on its image."""
    try:
        with open(ROLLOUT_FILE, encoding="utf-8") as handle:
            rollout = json.load(handle)
    except (OSError, ValueError):
        return []  # no rollout yet (stack starting): nothing is known, so nothing is reported
    latest = max((int(item["number"]) for item in rollout.get("revisions", [])), default=None)
    stalled = rollout.get("stalled")
    updated = 1 if latest is not None and rollout.get("deployed") == latest and not stalled else 0
    deployment = {"namespace": NAMESPACE, "deployment": DEPLOYMENT}
    lines = [
        _series("kube_deployment_spec_replicas", deployment, 1),
        _series("kube_deployment_status_replicas_updated", deployment, updated),
    ]
    if stalled:
        # the docker driver writes when the kubelet would back off (platforms/docker/rollout.py)
        reason = "ImagePullBackOff" if now >= float(stalled.get("backoff_at", 0.0)) else "ErrImagePull"
        pod = {
            "namespace": NAMESPACE,
            "pod": f"{DEPLOYMENT}-rev{stalled.get('revision', '')}",
            "container": "api",
        }
        lines.append(_series("kube_pod_container_status_waiting_reason", pod | {"reason": reason}, 1))
    return lines


def endpoint_series(selected: list[bool]) -> list[str]:
    """The Service's Endpoints from the readiness of each container its selector matches.

    Every container listens on the host's 127.0.0.1, so all addresses share that ip: one
    ``kube_endpoint_address`` series per readiness seen (a Service without endpoints has none)."""
    service = {"namespace": NAMESPACE, "endpoint": SERVICE}
    ready = sum(selected)
    lines = [
        _series("kube_endpoint_info", service, 1),
        _series("kube_endpoint_address_available", service, ready),
        _series("kube_endpoint_address_not_ready", service, len(selected) - ready),
    ]
    for state in sorted(set(selected), reverse=True):
        labels = service | {"ip": "127.0.0.1", "ready": "true" if state else "false"}
        lines.append(_series("kube_endpoint_address", labels, 1))
    return lines


def restart_metrics() -> str:
    """The kube-state-metrics series of every container of the stack, and of the API's rollout."""
    query = urllib.parse.urlencode({"all": "1", "filters": json.dumps({"label": [LABEL]})})
    samples: list[str] = []
    selector = read_selector(SERVICE_FILE)
    selected: list[bool] = []  # the readiness of each container the Service's selector matches
    for summary in _engine_get(f"/containers/json?{query}"):
        try:
            details = _engine_get(f"/containers/{summary['Id']}/json")
        except OSError:
            continue  # removed between the listing and the inspection
        name = details["Name"].lstrip("/")
        app = details["Config"]["Labels"].get("app", name)
        pod = {"namespace": NAMESPACE, "pod": name, "container": CONTAINER_NAMES.get(name, name)}
        state = details["State"]
        ready = is_ready(state)
        samples.append(
            _series("kube_pod_container_status_restarts_total", pod | {"app": app}, details["RestartCount"])
        )
        samples.append(_series("kube_pod_container_status_ready", pod, 1 if ready else 0))
        if selector is not None and selects(selector, details["Config"]["Labels"] or {}):
            selected.append(ready)
        if state.get("Restarting"):
            samples.append(
                _series("kube_pod_container_status_waiting_reason", pod | {"reason": "CrashLoopBackOff"}, 1)
            )
        with STATE_LOCK:
            last = TERMINATIONS.get(details["Id"])
        if last is not None:
            labels = pod | {"reason": last["reason"]}
            samples.append(_series("kube_pod_container_status_last_terminated_reason", labels, 1))
    samples += _rollout_series(time.time())
    if selector is not None:  # an unreadable selector: nothing is known, so nothing is reported
        samples += endpoint_series(selected)
    lines = []
    for metric, (kind, help_text) in _HELP.items():
        mine = [sample for sample in samples if sample.startswith(metric + "{")]
        if mine:
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}", *mine]
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
    replay(OUTPUT)
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
