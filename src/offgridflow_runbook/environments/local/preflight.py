"""Before anything starts: root, Debian, Docker installed and its engine answering (started if needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import DockerException

from offgridflow_runbook.platforms.docker.names import state_dir
from offgridflow_runbook.project import project_root

DOCKER_SOCKET = Path("/var/run/docker.sock")
DOCKERD_DEADLINE_SECONDS = 60.0


class StackError(Exception):
    """The stack cannot be brought up or changed; the message says what is missing and how to get it."""


def check_machine() -> None:
    """Everything ``up`` needs that it will not install itself; one message listing all that is missing."""
    problems = []
    if os.geteuid() != 0:
        problems.append("run as root (the local stack drives the Docker Engine): sudo make up")
    if not Path("/etc/debian_version").exists():
        problems.append("this is not Debian: the stack's setup uses apt-get and Debian packages")
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        problems.append("Docker is not installed: apt-get install docker.io (or: make system-deps)")
    if problems:
        raise StackError("cannot bring the local stack up: " + "; ".join(problems))


def _engine_answers() -> bool:
    try:
        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except DockerException:
        return False


def ensure_engine(say: Callable[[str], None] = print) -> docker.DockerClient:
    """A client to a running engine; starts ``dockerd`` when none answers (a stopped engine, a reboot).

    dockerd is started the one way the project starts it, ``scripts/install-system-deps.sh`` (loopback
    only, no bridge, the offgridflow-runc runtime the kind nodes need), so the engine ``up`` starts is
    the engine ``make up`` starts.
    """
    if not _engine_answers():
        log = state_dir() / "dockerd.log"
        say(f"dockerd is not running: starting it (log: {log})")
        with log.open("ab") as output:
            subprocess.run(
                ["bash", str(project_root() / "scripts" / "install-system-deps.sh")],
                cwd=project_root(),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        deadline = time.monotonic() + DOCKERD_DEADLINE_SECONDS
        while not _engine_answers():
            if time.monotonic() > deadline:
                raise StackError(f"dockerd did not answer within {DOCKERD_DEADLINE_SECONDS:.0f}s; see {log}")
            time.sleep(0.5)
        say("dockerd is running")
    return docker.from_env(timeout=120)
