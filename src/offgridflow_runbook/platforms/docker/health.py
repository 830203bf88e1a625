"""Each part of the local stack, seen fine, seen bad or unknown: what ``up`` waits for and triage can read.

A part is fine when its container runs (healthy, where the image has a health check) and its service
answers on its own endpoint (``pg_isready`` for the database). Whatever could not be read (the engine
does not answer) is ``unknown`` with the reason, never fine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from offgridflow_runbook.platforms.docker.engine_client import EngineClient, EngineError, engine_endpoint
from offgridflow_runbook.platforms.docker.names import (
    ALERTMANAGER,
    API,
    API_INTERNAL_PORT,
    API_SERVICE,
    API_SERVICE_PORT,
    EVENT_RECORDER,
    EXPORTER,
    POSTGRES,
    PROMETHEUS,
    RECEIVER,
    REGISTRY,
)
from offgridflow_runbook.probes.http import http_client

# What "answers" means for each service: an HTTP answer below 400 from its own endpoint.
HEALTH_URLS = {
    REGISTRY: "http://127.0.0.1:5000/v2/",
    # the API container itself, then the Service in front of it (the routing proxy) that users address
    API: f"http://127.0.0.1:{API_INTERNAL_PORT}/health/ready",
    API_SERVICE: f"http://127.0.0.1:{API_SERVICE_PORT}/health/ready",
    # its landing page: /metrics asks the database and slows by a second per scrape while it is
    # down (1, 2, 3 s measured), which is the database's failure, not the exporter's
    EXPORTER: "http://127.0.0.1:9187/",
    RECEIVER: "http://127.0.0.1:9095/health",
    ALERTMANAGER: "http://127.0.0.1:9093/-/ready",
    PROMETHEUS: "http://127.0.0.1:9090/-/ready",
    EVENT_RECORDER: "http://127.0.0.1:9096/metrics",
}
PARTS = (API, API_SERVICE, POSTGRES, EXPORTER, PROMETHEUS, ALERTMANAGER, RECEIVER, REGISTRY, EVENT_RECORDER)


@dataclass(frozen=True)
class PartHealth:
    """One part of the stack: ``fine``, ``bad`` or ``unknown``, and what was seen."""

    name: str
    outcome: Literal["fine", "bad", "unknown"]
    detail: str

    @property
    def fine(self) -> bool:
        return self.outcome == "fine"


def answers(url: str) -> bool:
    """An answer below 400 from ``url``; the CA bundle is loaded only for an https URL."""
    try:
        with http_client(timeout=2) as client:
            return client.get(url).status_code < 400
    except httpx.HTTPError:
        return False


def exec_refused_not_running(error: EngineError) -> bool:
    """The engine refused an exec because the container is not running (any more)."""
    return error.status_code == 409 or "is not running" in str(getattr(error, "explanation", "") or error)


def postgres_ready(engine: EngineClient) -> bool:
    container = engine.container(POSTGRES)
    if container is None or container.status != "running":
        return False
    try:
        return engine.exec(container.id, ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "5432"])[0] == 0
    except EngineError as error:
        if exec_refused_not_running(error):  # it stopped between the listing and the exec: not ready
            return False
        raise


def part_health(engine: EngineClient, name: str) -> PartHealth:
    """One part as the engine and its own endpoint show it."""
    try:
        container = engine.container(name)
        if container is None:
            return PartHealth(name, "bad", "no container (make up creates it)")
        state = container.attrs["State"]
        health = (state.get("Health") or {}).get("Status")
        restarts = int(container.attrs.get("RestartCount", 0))
        seen = f"container {state['Status']}" + (f" ({health})" if health else "") + f", {restarts} restarts"
        if state["Status"] != "running":
            return PartHealth(name, "bad", f"{seen}, exit code {state['ExitCode']}")
        serving = postgres_ready(engine) if name == POSTGRES else answers(HEALTH_URLS[name])
    except EngineError as error:
        return PartHealth(name, "unknown", f"the Docker Engine did not answer: {error.explanation}")
    if not serving:
        what = "pg_isready fails" if name == POSTGRES else f"{HEALTH_URLS[name]} does not answer"
        return PartHealth(name, "bad", f"{seen}, {what}")
    if health not in (None, "healthy"):
        return PartHealth(name, "bad", seen)
    return PartHealth(name, "fine", seen)


def health(engine: EngineClient | None = None) -> list[PartHealth]:
    """Every part of the stack; all ``unknown`` when the engine cannot be reached."""
    own = engine is None
    try:
        reader = engine or EngineClient(engine_endpoint(), timeout=10)
    except EngineError as error:
        reason = f"the Docker Engine did not answer: {error.explanation}"
        return [PartHealth(name, "unknown", reason) for name in PARTS]
    try:
        return [part_health(reader, name) for name in PARTS]
    finally:
        if own:
            reader.close()
