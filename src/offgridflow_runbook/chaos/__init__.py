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

__all__ = ["ACTIONS", "PHASES", "activity"]

PHASES = ("steady_state", "faults", "detection", "fixes", "proof")

# The activities that change the target (Chaos Toolkit "action"s): each refuses a target without
# allow_chaos before touching anything. Every other activity only reads (a "probe").
ACTIONS = frozenset(
    {
        "crash_database_repeatedly",
        "ensure_memory_limit",
        "fix_1_restart_database_then_api",
        "fix_2_patch_memory",
        "fix_3_rollout_undo",
        "fix_4_set_known_good_image",
        "kill_database",
        "memory_assault",
        "restore_config",
        "set_image",
        "start_background_writer",
        "stop_background_writer",
        "update_config",
        "use_hashed_config",
        "use_in_place_config",
    }
)


def activity(name: str) -> Callable[..., Any]:
    """The activity called ``name``, from whichever phase module exports it."""
    for phase in PHASES:
        module = importlib.import_module(f"{__name__}.{phase}")
        if name in getattr(module, "__all__", ()):
            found: Callable[..., Any] = getattr(module, name)
            return found
    raise LookupError(f"no chaos activity named {name!r}")
