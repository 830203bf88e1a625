"""Who listens on the stack's ports: the stack's own container, or something ``up`` must not touch.

All containers use the host network, so a port another process holds makes a service crash-loop with
"address already in use". ``up`` checks every port before it starts anything and names the holder:
a process (its pid and command), a container (also one publishing the port through ``docker-proxy``,
as a kind node does), or one of the stack's own containers (which ``up`` may replace).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker

from offgridflow_runbook.platforms.docker.names import (
    ALERTMANAGER,
    API,
    API_INTERNAL_PORT,
    API_METRICS_PORT,
    API_SERVICE,
    API_SERVICE_PORT,
    EVENT_RECORDER,
    EXPORTER,
    POSTGRES,
    PROMETHEUS,
    RECEIVER,
    REGISTRY,
    STACK_LABEL,
    STACK_VALUE,
    SYNTHETIC_MONITOR,
)

PORTS: Mapping[str, tuple[int, ...]] = {
    REGISTRY: (5000,),
    POSTGRES: (5432,),
    API: (API_INTERNAL_PORT, API_METRICS_PORT),
    API_SERVICE: (API_SERVICE_PORT,),
    PROMETHEUS: (9090,),
    ALERTMANAGER: (9093,),
    RECEIVER: (9095,),
    EVENT_RECORDER: (9096,),
    SYNTHETIC_MONITOR: (9097,),
    EXPORTER: (9187,),
}
_LISTEN = "0A"
_LISTENING_ADDRESSES = {"0100007F", "00000000", "00000000000000000000000000000000"}
_CONTAINER_ID = re.compile(r"(?:docker[/-]|/)([0-9a-f]{64})")
_PROC = Path("/proc")


@dataclass(frozen=True)
class Holder:
    """What listens on a port: a pid and command, and the container it runs in (if any)."""

    port: int
    pid: int | None
    command: str
    container: str | None = None
    in_stack: bool = False

    def describe(self) -> str:
        if self.container:
            where = "the stack's container" if self.in_stack else "container"
            return f"{where} {self.container}"
        if self.pid is None:
            return "a process this user cannot see"
        return f"process {self.pid} ({self.command})"


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes listening on ``port`` on loopback or every address (IPv4 and IPv6)."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (_PROC / "net" / table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] != _LISTEN or int(hex_port, 16) != port:
                continue
            if address in _LISTENING_ADDRESSES or address.endswith("0100007F"):
                inodes.add(fields[9])
    return inodes


def _owner(inodes: set[str]) -> int | None:
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for descriptor in (entry / "fd").iterdir():
                if os.readlink(descriptor) in targets:
                    return int(entry.name)
        except OSError:
            continue  # gone, or not ours to read
    return None


def _command(pid: int) -> str:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)[:80] or "?"


def _container_of(pid: int) -> str | None:
    try:
        text = (_PROC / str(pid) / "cgroup").read_text(encoding="utf-8")
    except OSError:
        return None
    match = _CONTAINER_ID.search(text)
    return match.group(1) if match else None


def _publisher(client: docker.DockerClient, port: int) -> docker.models.containers.Container | None:
    """The container whose published port ``port`` a ``docker-proxy`` serves."""
    for container in client.containers.list():
        for bindings in (container.attrs.get("HostConfig", {}).get("PortBindings") or {}).values():
            if any(str(binding.get("HostPort")) == str(port) for binding in bindings or []):
                return container
    return None


def holder(client: docker.DockerClient, port: int) -> Holder | None:
    """Who listens on ``port`` (``None``: nobody)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    pid = _owner(inodes)
    if pid is None:
        return Holder(port, None, "?")
    command = _command(pid)
    container = None
    if command.split(" ", 1)[0].endswith("docker-proxy"):
        container = _publisher(client, port)
    elif container_id := _container_of(pid):
        try:
            container = client.containers.get(container_id)
        except docker.errors.NotFound:
            container = None
    if container is None:
        return Holder(port, pid, command)
    in_stack = container.labels.get(STACK_LABEL) == STACK_VALUE
    return Holder(port, pid, command, container.name, in_stack)


def foreign_holders(client: docker.DockerClient) -> list[tuple[str, Holder]]:
    """Ports of the stack held by anything but the stack's own containers.

    Any of the stack's containers may hold any of its ports: ``up`` replaces them, and a port can move
    from one part to another (127.0.0.1:8080 was the API's before the API's Service took it)."""
    found = []
    for service, ports in PORTS.items():
        for port in ports:
            seen = holder(client, port)
            if seen is not None and not seen.in_stack:
                found.append((service, seen))
    return found
