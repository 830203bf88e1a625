"""The Docker driver's identity: the engine endpoint the client uses, and the stack it acts on."""

from __future__ import annotations

import pytest

from helpers.docker_fakes import container, platform
from offgridflow_runbook.platforms import SeenIdentity
from offgridflow_runbook.platforms.docker import driver


def test_the_endpoint_is_docker_host_else_the_default_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert driver.engine_endpoint() == "unix:///var/run/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.9:2375")
    assert driver.engine_endpoint() == "tcp://10.0.0.9:2375"


def test_without_contact_only_the_endpoint_is_read() -> None:
    seen = platform([container("postgres")])
    assert seen.identity(contact=False) == SeenIdentity("docker", docker_host="unix:///var/run/docker.sock")
    assert seen._engine.labels == []  # type: ignore[attr-defined]


def test_the_stack_label_is_seen_only_on_the_stack_the_driver_acts_on() -> None:
    with_stack = platform([container("postgres")])
    assert with_stack.identity().stack_labels == ("local",)
    assert with_stack._engine.labels == [["com.offgridflow.stack=local"]]  # type: ignore[attr-defined]
    assert platform([]).identity().stack_labels == ()
