"""Platform access for reads: a target without it (platform ``none``, no kube context, no Docker)
is not an error for the checks; the platform checks are skipped with the reason instead."""

from __future__ import annotations

from dataclasses import dataclass

from offgridflow_runbook.platforms import PlatformError, PlatformReads, platform_for
from offgridflow_runbook.targets import Target

__all__ = ["PlatformAccess", "open_platform"]


@dataclass(frozen=True)
class PlatformAccess:
    """Either a connected platform, or the reason there is none."""

    platform: PlatformReads | None
    reason: str = ""

    def close(self) -> None:
        if self.platform is not None:
            self.platform.close()


def open_platform(target: Target) -> PlatformAccess:
    """Connect to ``target``'s platform; a missing or unreachable platform becomes a reason."""
    if not target.has_platform:
        return PlatformAccess(None, f"target {target.name!r} has no platform access (platform: none)")
    try:
        return PlatformAccess(platform_for(target))
    except PlatformError as error:
        return PlatformAccess(None, str(error))
    except ImportError as error:
        return PlatformAccess(
            None, f"target {target.name!r}: the {target.platform} driver is unavailable: {error}"
        )
