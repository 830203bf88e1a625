"""The docker driver without an engine: a client whose container listing answers from a list."""

from __future__ import annotations

from typing import Any

from offgridflow_runbook.platforms.docker import driver


class Containers:
    """``client.containers``: answers every listing with ``found`` and keeps the filters it was asked."""

    def __init__(self, found: list[Any]) -> None:
        self.found = found
        self.filters: list[dict[str, Any]] = []

    def list(self, *, all: bool, filters: dict[str, Any]) -> list[Any]:  # the SDK's keywords
        self.filters.append(filters)
        return self.found


class Client:
    def __init__(self, found: list[Any]) -> None:
        self.containers = Containers(found)


def platform(found: list[Any]) -> driver.DockerPlatform:
    """The driver without its constructor (which would reach the engine), listing ``found``."""
    instance = object.__new__(driver.DockerPlatform)
    instance.engine = "unix:///var/run/docker.sock"
    instance._client = Client(found)  # type: ignore[assignment]
    return instance
