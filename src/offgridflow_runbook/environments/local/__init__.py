"""The local stack: the whole OffGridFlow system on this machine's Docker Engine (``make up``).

``up()`` builds what is missing, creates what changed and waits until everything is healthy;
``down()`` removes the containers and keeps the data; ``clean()`` removes the data too;
``status()`` lists the containers; ``health()`` says for each part whether it is fine, bad or
unknown; ``images()`` only builds; ``build_wheelhouse()`` makes the API image's wheels (the kind
images use it too); ``stack_lock()`` is the lock every change holds.
``python -m offgridflow_runbook.environments.local up|down|clean|status|health|images|wheelhouse``.
"""

from __future__ import annotations

from offgridflow_runbook.environments.local.images import build_inputs, build_wheelhouse
from offgridflow_runbook.environments.local.lifecycle import ContainerStatus, clean, down, images, status, up
from offgridflow_runbook.environments.local.lock import LOCK_HELD_ENV, STACK_LOCK, stack_lock
from offgridflow_runbook.environments.local.preflight import StackError
from offgridflow_runbook.platforms.docker.health import PARTS, PartHealth, health
from offgridflow_runbook.platforms.docker.names import URLS

__all__ = [
    "LOCK_HELD_ENV",
    "PARTS",
    "STACK_LOCK",
    "URLS",
    "ContainerStatus",
    "PartHealth",
    "StackError",
    "build_inputs",
    "build_wheelhouse",
    "clean",
    "down",
    "health",
    "images",
    "stack_lock",
    "status",
    "up",
]
