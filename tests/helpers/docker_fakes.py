"""The docker driver without an engine: an engine client whose container listing answers from a list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from offgridflow_runbook.platforms.docker import driver
from offgridflow_runbook.platforms.docker.engine_client import ContainerInfo


def container(name: str, *, labels: dict[str, str] | None = None, **state: Any) -> ContainerInfo:
    """A container as the engine inspects it: its name, labels and ``State`` (running by default)."""
    return ContainerInfo.from_inspect(
        {
            "Id": f"id-{name}",
            "Name": f"/{name}",
            "Config": {"Labels": labels or {}},
            "State": {"Status": "running"} | state,
        }
    )


class Engine:
    """:class:`~offgridflow_runbook.platforms.docker.engine_client.EngineClient`'s listings: answers
    every one with ``found`` and keeps the label filters it was asked."""

    def __init__(self, found: list[ContainerInfo]) -> None:
        self.found = found
        self.labels: list[list[str]] = []

    def containers(self, *, labels: Sequence[str] = ()) -> list[ContainerInfo]:
        self.labels.append(list(labels))
        return self.found

    def container_ids(self, *, labels: Sequence[str] = ()) -> list[str]:
        return [found.id for found in self.containers(labels=labels)]


def platform(found: list[ContainerInfo]) -> driver.DockerPlatform:
    """The driver without its constructor (which would reach the engine), listing ``found``."""
    instance = object.__new__(driver.DockerPlatform)
    instance.engine = "unix:///var/run/docker.sock"
    instance._engine = Engine(found)  # type: ignore[assignment]
    instance._sdk_client = None
    return instance
