"""The Docker driver's identity: the engine endpoint the client uses, and the stack it acts on."""

from __future__ import annotations

from typing import Any

import pytest

from offgridflow_runbook.platforms import SeenIdentity
from offgridflow_runbook.platforms.docker import driver


class Containers:
    def __init__(self, found: list[object]) -> None:
        self.found = found
        self.filters: list[dict[str, Any]] = []

    def list(self, *, all: bool, filters: dict[str, Any]) -> list[object]:  # the SDK's keywords
        self.filters.append(filters)
        return self.found


class Client:
    def __init__(self, found: list[object]) -> None:
        self.containers = Containers(found)


def platform(found: list[object]) -> driver.DockerPlatform:
    # no engine here: the driver without its constructor, with a client that answers the listing
    instance = object.__new__(driver.DockerPlatform)
    instance.engine = "unix:///var/run/docker.sock"
    instance._client = Client(found)  # type: ignore[assignment]
    return instance


def test_the_endpoint_is_docker_host_else_the_default_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert driver.engine_endpoint() == "unix:///var/run/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.9:2375")
    assert driver.engine_endpoint() == "tcp://10.0.0.9:2375"


def test_without_contact_only_the_endpoint_is_read() -> None:
    seen = platform([object()])
    assert seen.identity(contact=False) == SeenIdentity("docker", docker_host="unix:///var/run/docker.sock")
    assert seen._client.containers.filters == []  # type: ignore[attr-defined]


def test_the_stack_label_is_seen_only_on_the_stack_the_driver_acts_on() -> None:
    with_stack = platform([object()])
    assert with_stack.identity().stack_labels == ("local",)
    assert with_stack._client.containers.filters == [{"label": "com.offgridflow.stack=local"}]  # type: ignore[attr-defined]
    assert platform([]).identity().stack_labels == ()
