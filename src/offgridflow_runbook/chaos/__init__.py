"""The OffGridFlow runbook's Chaos Toolkit extension, one module per phase of an experiment:

- :mod:`.steady_state` - may this target be broken, and does it pass Verification?
- :mod:`.faults` - one failure mode each (and their set-up), recording ``fault_at``;
- :mod:`.detection` - the failure shows, an alert fires, a page is delivered, triage names the fix;
- :mod:`.fixes` - the runbook's Fix 1-4 and the rollbacks;
- :mod:`.proof` - the fix held (no acknowledged write lost, load survived, a bad value not back).

``chaos/experiments/*.json`` name them as ``"module": "offgridflow_runbook.chaos.<phase>"``. Every
activity is typed, ends with ``configuration=None, secrets=None`` and raises ``ActivityFailed``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from offgridflow_runbook.chaos.registry import PHASES, registered

__all__ = ["ACTIONS", "GUARDED", "PHASES", "activity"]

# Every activity registered with the guard (chaos.registry), by name, read from the phase modules.
_REGISTERED = registered()
# The activities that change the target (Chaos Toolkit "action"s, ``@changes_target``); with those
# that load it (``@loads_target``) they are GUARDED: each refuses before touching anything. Every other
# activity only reads.
ACTIONS = frozenset(name for name, entry in _REGISTERED.items() if entry.effect == "changes")
GUARDED = frozenset(_REGISTERED)


def activity(name: str) -> Callable[..., Any]:
    """The activity called ``name``, from whichever phase module exports it."""
    for phase in PHASES:
        module = importlib.import_module(f"{__name__}.{phase}")
        if name in getattr(module, "__all__", ()):
            found: Callable[..., Any] = getattr(module, name)
            return found
    raise LookupError(f"no chaos activity named {name!r}")
