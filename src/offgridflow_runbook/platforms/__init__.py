"""Platforms: how a target is reached. ``platform_for(target)`` picks the driver named in the target;
``runbook_commands(platform)`` how that platform carries out the runbook's commands."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from offgridflow_runbook.platforms.base import (
    API_WORKLOAD,
    CommandResult,
    Event,
    NetworkStatus,
    Platform,
    PlatformChanges,
    PlatformError,
    PlatformReads,
    Revision,
    RolloutStatus,
    Termination,
    Usage,
    Workload,
    label_selector,
)
from offgridflow_runbook.platforms.commands import AsWritten, RunbookCommands, RunbookLine
from offgridflow_runbook.platforms.identity import SeenIdentity

if TYPE_CHECKING:
    from offgridflow_runbook.targets import Target

__all__ = [
    "API_WORKLOAD",
    "CommandResult",
    "Event",
    "NetworkStatus",
    "Platform",
    "PlatformChanges",
    "PlatformError",
    "PlatformReads",
    "Revision",
    "RolloutStatus",
    "RunbookCommands",
    "RunbookLine",
    "SeenIdentity",
    "Termination",
    "Usage",
    "Workload",
    "label_selector",
    "platform_for",
    "runbook_commands",
]


# The drivers are imported lazily so that one platform's client library stays optional.
_DRIVERS = {
    "docker": ("offgridflow_runbook.platforms.docker.driver", "DockerPlatform"),
    "kubernetes": ("offgridflow_runbook.platforms.kubernetes.driver", "KubernetesPlatform"),
}


def platform_for(target: Target) -> Platform:
    """The driver for ``target.platform`` (``docker`` or ``kubernetes``), connected to ``target``."""
    try:
        module_name, class_name = _DRIVERS[target.platform]
    except KeyError:
        raise PlatformError(
            f"target {target.name!r}: unknown platform {target.platform!r} "
            f"(expected one of: {', '.join(sorted(_DRIVERS))})"
        ) from None
    driver: Callable[[Target], Platform] = getattr(importlib.import_module(module_name), class_name)
    return driver(target)


def runbook_commands(platform: str) -> RunbookCommands:
    """How ``platform`` carries out the runbook's commands (its driver package's ``commands`` module,
    imported without the driver's client library); a platform without a driver (``none``: HTTP only)
    runs no ``kubectl`` line and has nothing instead."""
    if platform not in _DRIVERS:
        return AsWritten(runs_kubectl=False)
    commands: RunbookCommands = importlib.import_module(f"{__name__}.{platform}.commands").COMMANDS
    return commands
