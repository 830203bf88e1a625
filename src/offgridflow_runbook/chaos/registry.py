"""Every activity that changes or loads a target, registered where it is defined and guarded there.

``@changes_target`` (a Chaos Toolkit "action": a fault, a fix, a set-up) and ``@loads_target`` (a
probe that sends load, e.g. the memory assault after Fix 2) wrap the activity so that, before its
body runs, the target is resolved and the guard refuses (``ActivityFailed``, one line, nothing
touched) a target without ``allow_chaos: true``, without a declared identity, or whose identity is
not what answers. ``chaos.ACTIONS`` is the set of ``@changes_target`` names; nothing lists them by
hand, so an activity cannot be added beside the guard.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from offgridflow_runbook.chaos._context import guarded, resolve_target

__all__ = ["PHASES", "Effect", "GuardedActivity", "changes_target", "loads_target", "registered"]

# The phase modules of the extension (``offgridflow_runbook.chaos.<phase>``), in experiment order.
PHASES = ("steady_state", "faults", "detection", "fixes", "proof")

F = TypeVar("F", bound=Callable[..., Any])
Effect = Literal["changes", "loads"]

_REGISTRY: dict[str, GuardedActivity] = {}


@dataclass(frozen=True)
class GuardedActivity:
    """One registered activity: its name and module, what it does to the target, and the (guarded)
    function Chaos Toolkit calls."""

    name: str
    module: str
    effect: Effect
    function: Callable[..., Any]


def _register(function: F, effect: Effect) -> F:
    signature = inspect.signature(function)
    missing = {"target", "configuration", "secrets"} - set(signature.parameters)
    if missing:
        raise TypeError(f"chaos activity {function.__name__} needs parameters {sorted(missing)}")

    @functools.wraps(function)
    def guarded_activity(*args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind_partial(*args, **kwargs).arguments
        configuration: Mapping[str, Any] | None = arguments.get("configuration")
        chosen = resolve_target(arguments.get("target"), configuration)
        with guarded(chosen, configuration, function.__name__):
            return function(*args, **kwargs)

    if function.__name__ in _REGISTRY:
        raise TypeError(f"chaos activity {function.__name__} is registered twice")
    _REGISTRY[function.__name__] = GuardedActivity(
        function.__name__, function.__module__, effect, guarded_activity
    )
    return cast(F, guarded_activity)


def changes_target(function: F) -> F:
    """Register ``function`` as an activity that changes the target, guarded before its body."""
    return _register(function, "changes")


def loads_target(function: F) -> F:
    """Register ``function`` as an activity that loads the target (changes nothing it keeps, but may
    bring it down), guarded before its body."""
    return _register(function, "loads")


def registered() -> dict[str, GuardedActivity]:
    """Every registered activity by name, with every phase module imported (so all have registered)."""
    for phase in PHASES:
        importlib.import_module(f"offgridflow_runbook.chaos.{phase}")
    return dict(_REGISTRY)
