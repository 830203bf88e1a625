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

    @property
    def has_ingress(self) -> bool:
        """Whether the runbook's ``kubectl get ingress`` reads a part of the path to the API here (an
        Ingress missing is then a 2D problem); the local Docker stack has no Ingress."""
        ...

    @property
    def pg_isready_from_api(self) -> bool:
        """Whether the runbook's ``pg_isready`` runs beside the API (``kubectl exec`` into the API's
        pod, so a refusal with the database's pods ready points at the path between them) rather than
        in the database's own container."""
        ...

    @property
    def no_api_instance(self) -> str | None:
        """Why no API instance exists when none is found, if this platform knows it better than the
        Deployment's rollout can say (None: the rollout says it)."""
        ...

    def instead(self, line: RunbookLine) -> str:
        """What the platform does for ``line``: ``line.rendered`` when that is the command itself
        (or nothing else is known), else a one-line description of what the suite does instead."""
        ...


@dataclass(frozen=True)
class AsWritten:
    """Every command as written (rendered for the target); ``kubectl`` runs there or not at all. The
    path is the one the runbook describes: an Ingress, ``pg_isready`` from the API's pod, a Deployment
    whose rollout says why it has no pod."""

    runs_kubectl: bool = False
    has_ingress: bool = True
    pg_isready_from_api: bool = True
    no_api_instance: str | None = None

    def instead(self, line: RunbookLine) -> str:
        """The command itself: this platform has no other way of carrying it out."""
        return line.rendered
