"""What the local stack's own programs share: the Docker Engine's socket, and the API's Service.

``event_recorder.py`` (the kube-state-metrics stand-in) and ``api_service.py`` (the Service's routing
proxy) both ask the engine which containers run, and both judge the same selector the same way: the
proxy routes to what the recorder reports as the Service's endpoints. The tools image copies this
file beside them into /usr/local/bin, where Python looks first.
"""

import http.client
import json
import os
import socket
from typing import Any

SOCKET = os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock")
# A request that is not a stream (a listing, an inspection, a start) is answered well within this.
ENGINE_TIMEOUT_SECONDS = 10.0
# What the Service selects while nobody changed it (no api-service.json): the API's containers.
DEFAULT_SELECTOR = {"app": "offgridflow-api"}


class UnixConnection(http.client.HTTPConnection):
    """HTTP over the engine's Unix socket (with the connection's timeout, when one was given)."""

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if isinstance(self.timeout, int | float):
            self.sock.settimeout(self.timeout)
        self.sock.connect(SOCKET)


def engine_get(path: str) -> Any:
    """The engine's JSON answer to ``GET path``; OSError for any status but 200."""
    connection = UnixConnection("docker", timeout=ENGINE_TIMEOUT_SECONDS)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise OSError(f"GET {path} answered {response.status}")
    return json.loads(body)


def read_selector(path: str) -> dict[str, str] | None:
    """The Service's selector in ``path`` (``api-service.json``, written by the docker driver); the
    default when the file does not exist; ``None`` when it cannot be read (nothing is known then)."""
    try:
        with open(path, encoding="utf-8") as handle:
            selector = json.load(handle).get("selector")
    except FileNotFoundError:
        return dict(DEFAULT_SELECTOR)
    except (OSError, ValueError, AttributeError):
        return None
    return selector if isinstance(selector, dict) and selector else None


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a container with ``labels`` carries every label of the selector, with its value."""
    return all(labels.get(key) == value for key, value in selector.items())


def is_ready(state: dict[str, Any]) -> bool:
    """A pod's readiness from a container's ``State``: running, not restarting, health ``healthy``."""
    health = (state.get("Health") or {}).get("Status")
    return bool(state.get("Running")) and not state.get("Restarting") and health in (None, "healthy")
