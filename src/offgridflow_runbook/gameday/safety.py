"""The safety guard: nothing changes a target that does not allow chaos."""

from __future__ import annotations

from offgridflow_runbook.targets import Target

__all__ = ["ChaosNotAllowed", "require_chaos_allowed"]


class ChaosNotAllowed(Exception):
    """The target forbids chaos; the message is one line for the user."""


def require_chaos_allowed(target: Target) -> None:
    """Raise :class:`ChaosNotAllowed` unless ``target.allow_chaos`` is true; call before any change."""
    if not target.allow_chaos:
        raise ChaosNotAllowed(
            f"target {target.name!r} does not allow chaos (allow_chaos is false in the targets file); "
            "refusing to change anything"
        )
