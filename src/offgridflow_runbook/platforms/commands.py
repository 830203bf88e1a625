"""The runbook's commands as a platform carries them out.

The runbook is written for Kubernetes: its lines are ``kubectl`` commands. The judging side
(``runbook/``) renders each line for a target and asks the target's platform, through
:class:`RunbookCommands`, whether its ``kubectl`` lines run there and what it does instead of a
line; it never asks for the platform's name. Each driver package says it in its ``commands``
module (``COMMANDS``): Kubernetes runs every line as written, Docker names its equivalents
(:mod:`offgridflow_runbook.platforms.docker.commands`). :func:`offgridflow_runbook.platforms.runbook_commands`
picks the one a target's platform names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["AsWritten", "RunbookCommands", "RunbookLine"]


@dataclass(frozen=True)
class RunbookLine:
    """One of the runbook's commands, as the judging side hands it to a platform."""

    step: str  # the runbook step the command belongs to ("Fix 4")
    text: str  # as the runbook writes it, without its "-n offgridflow", on one line of single spaces
    rendered: str  # rendered for the target: its namespace and context, its URLs, its image
    base_url: str  # the target's API, without a trailing slash
    metrics_url: str  # the target's metrics endpoint
    image: str  # the running image (the runbook's placeholder when it is not known)
    good_image: Callable[[], str]  # the image Fix 4 sets: reads the runbook, so only called when needed


class RunbookCommands(Protocol):
    """How a platform carries out the runbook's commands."""

    @property
    def runs_kubectl(self) -> bool:
        """Whether the runbook's ``kubectl`` lines run against a target of this platform."""
        ...

    def instead(self, line: RunbookLine) -> str:
        """What the platform does for ``line``: ``line.rendered`` when that is the command itself
        (or nothing else is known), else a one-line description of what the suite does instead."""
        ...


@dataclass(frozen=True)
class AsWritten:
    """Every command as written (rendered for the target); ``kubectl`` runs there or not at all."""

    runs_kubectl: bool = False

    def instead(self, line: RunbookLine) -> str:
        """The command itself: this platform has no other way of carrying it out."""
        return line.rendered
