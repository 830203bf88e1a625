"""The failure modes an operator game day can inject, read from ``chaos/experiments/*.json``.

Nothing here lists a mode by hand: each experiment file names its mode, the runbook section that
fixes it (its ``offgridflow-gameday`` extension), the platforms it runs on, and, in its method, the
fault activities (``offgridflow_runbook.chaos.faults``) and the runbook's fix
(``offgridflow_runbook.chaos.fixes``) with their arguments. The operator game day calls those very
activities, so the guard, the identity check and the fault ledger apply exactly as in the automated
game day.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offgridflow_runbook.gameday.modes import experiments_dir

__all__ = ["Activity", "Mode", "ModeError", "load_modes"]

_EXTENSION = "offgridflow-gameday"
_FAULTS_MODULE = "offgridflow_runbook.chaos.faults"
_FIXES_MODULE = "offgridflow_runbook.chaos.fixes"


class ModeError(ValueError):
    """An unknown mode, or an experiment file the operator game day cannot read (one line)."""


@dataclass(frozen=True)
class Activity:
    """One chaos activity of an experiment's method: its function name and arguments (``${target}``
    replaced by the target's name when called)."""

    func: str
    arguments: dict[str, Any]

    def for_target(self, target: str) -> dict[str, Any]:
        return {key: target if value == "${target}" else value for key, value in self.arguments.items()}


@dataclass(frozen=True)
class Mode:
    """One failure mode: its experiment file, the runbook section that fixes it, where it runs."""

    name: str
    path: Path
    section: str  # "Fix 2"
    fault: str  # the experiment's own words for the fault
    platforms: tuple[str, ...]  # empty: every platform
    faults: tuple[Activity, ...]
    fixes: tuple[Activity, ...]
    pages: dict[str, tuple[str, ...]]  # platform kind -> the alerts whose page is this fault's

    def runs_on(self, platform_kind: str) -> bool:
        return not self.platforms or platform_kind in self.platforms


def _mode(path: Path) -> Mode:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        extension = next(e for e in document["extensions"] if e.get("name") == _EXTENSION)
        method = document["method"]
    except (OSError, ValueError, KeyError, TypeError, StopIteration) as error:
        raise ModeError(f"{path}: not an offgridflow game-day experiment ({error})") from None

    def activities(module: str) -> tuple[Activity, ...]:
        return tuple(
            Activity(str(step["provider"]["func"]), dict(step["provider"].get("arguments") or {}))
            for step in method
            if step.get("type") == "action" and step.get("provider", {}).get("module") == module
        )

    return Mode(
        name=str(extension["mode"]),
        path=path,
        section=str(extension["fix"]),
        fault=str(extension.get("fault", "")),
        platforms=tuple(extension.get("platforms") or ()),
        faults=activities(_FAULTS_MODULE),
        fixes=activities(_FIXES_MODULE),
        pages={
            kind: tuple(names)
            for kind, names in ((extension.get("alerts") or {}).get("must_fire") or {}).items()
        },
    )


def load_modes(directory: Path | str | None = None) -> dict[str, Mode]:
    """Every mode of the experiment files in ``directory`` (default: the project's, the same folder
    the game day's mode registry reads), by name (sorted)."""
    directory = Path(directory) if directory is not None else experiments_dir()
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise ModeError(f"no experiments in {directory}")
    modes = [_mode(path) for path in paths]
    return {mode.name: mode for mode in sorted(modes, key=lambda m: m.name)}
