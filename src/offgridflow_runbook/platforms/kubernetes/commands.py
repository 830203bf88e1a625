"""The runbook's commands on Kubernetes: the runbook is written for it, so each runs as written
(rendered for the target's namespace, context and URLs by the judging side)."""

from __future__ import annotations

from offgridflow_runbook.platforms.commands import AsWritten

__all__ = ["COMMANDS"]

COMMANDS = AsWritten(runs_kubectl=True)
