"""The OffGridFlow runbook's Chaos Toolkit extension: ``probes`` (reads) and ``actions`` (faults and
the runbook's fixes), used by ``chaos/experiments/*.json`` with ``"module":
"offgridflow_runbook.chaos.probes"`` / ``"offgridflow_runbook.chaos.actions"``."""

from __future__ import annotations

__all__ = ["actions", "probes"]
