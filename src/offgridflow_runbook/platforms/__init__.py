"""Platforms: how a target is reached. ``platform_for(target)`` picks the driver named in the target."""

from __future__ import annotations

from typing import TYPE_CHECKING

from offgridflow_runbook.platforms.base import (
    CommandResult,
    Event,
    NetworkStatus,
    Platform,
    PlatformError,
    Revision,
    RolloutStatus,
    Termination,
    Usage,
    Workload,
)

if TYPE_CHECKING:
    from offgridflow_runbook.targets import Target

__all__ = [
    "CommandResult",
    "Event",
    "NetworkStatus",
    "Platform",
    "PlatformError",
    "Revision",
    "RolloutStatus",
    "Termination",
    "Usage",
    "Workload",
    "platform_for",
]


def platform_for(target: Target) -> Platform:
    """The driver for ``target.platform``; imported lazily so that one platform's client is optional."""
    if target.platform == "docker":
        from offgridflow_runbook.platforms._docker import DockerPlatform

        return DockerPlatform(target)
    if target.platform == "kubernetes":
        from offgridflow_runbook.platforms._kubernetes import KubernetesPlatform

        return KubernetesPlatform(target)
    raise PlatformError(f"target {target.name!r}: unknown platform {target.platform!r}")
