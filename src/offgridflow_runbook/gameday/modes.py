"""The failure modes the game day breaks, read from the experiments: the one list of modes.

Each ``chaos/experiments/<mode>.json`` carries an ``offgridflow-gameday`` extension (mode, fault,
the runbook section whose fix it proves, the detection, the alerts that must and must not page per
platform kind, where it runs). :func:`load_modes` reads every experiment file into a :class:`Mode`;
the game day, the coverage map and the tests take the list from here, so a new mode is a new
experiment file, never a new entry in a list written by hand.

The game day runs the modes in their ``order`` (the extension's; files without one come last, by
name): the order the scorecard lists them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offgridflow_runbook.project import project_root

__all__ = [
    "EXTENSION",
    "PLATFORM_KINDS",
    "Expectation",
    "Mode",
    "expectation_from_experiment",
    "experiments_dir",
    "load_modes",
    "mode_from_experiment",
]

EXTENSION = "offgridflow-gameday"
# the platform kinds an experiment runs on when its extension names none
PLATFORM_KINDS = ("docker", "kubernetes")
_LAST = 1_000_000  # the order of an experiment whose extension names none


@dataclass(frozen=True)
class Expectation:
    """What an experiment must show on one platform kind, from its ``offgridflow-gameday`` extension."""

    mode: str
    fix: str
    fault: str = ""
    detection: str = ""
    must_fire: tuple[str, ...] = ()
    must_not_fire: tuple[str, ...] = ()
    silent_is_finding: tuple[str, ...] = ()
    platforms: tuple[str, ...] = PLATFORM_KINDS  # where the experiment runs at all
    may_heal_by_itself: bool = False  # on this platform a controller may undo the fault before on-call


@dataclass(frozen=True)
class Mode:
    """One failure mode: its experiment, the runbook section it proves, the alerts per platform kind."""

    name: str
    fix: str  # the runbook section whose fix the experiment proves ("Fix 1")
    fault: str
    detection: str
    platforms: tuple[str, ...]
    must_fire: Mapping[str, tuple[str, ...]]  # platform kind -> the alerts that must page
    must_not_fire: Mapping[str, tuple[str, ...]]
    silent_is_finding: tuple[str, ...]
    self_heals_on: tuple[str, ...]
    timeout_s: float | None
    order: int
    path: Path | None = field(default=None, compare=False)

    def runs_on(self, platform: str) -> bool:
        """Whether the experiment runs on this platform kind at all."""
        return platform in self.platforms

    def expectation(self, platform: str) -> Expectation:
        """What the scorer holds this mode to on ``platform``."""
        return Expectation(
            mode=self.name,
            fix=self.fix,
            fault=self.fault,
            detection=self.detection,
            must_fire=self.must_fire.get(platform, ()),
            must_not_fire=self.must_not_fire.get(platform, ()),
            silent_is_finding=self.silent_is_finding,
            platforms=self.platforms,
            may_heal_by_itself=platform in self.self_heals_on,
        )


def _per_platform(raw: Any) -> dict[str, tuple[str, ...]]:
    return {str(kind): tuple(str(alert) for alert in alerts) for kind, alerts in dict(raw or {}).items()}


def _strings(raw: Sequence[Any]) -> tuple[str, ...]:
    return tuple(str(item) for item in raw)


def mode_from_experiment(experiment: Mapping[str, Any], path: Path | None = None) -> Mode:
    """The mode an experiment document describes (its ``offgridflow-gameday`` extension)."""
    extensions = experiment.get("extensions", [])
    extension = next((item for item in extensions if item.get("name") == EXTENSION), None)
    if extension is None:
        raise ValueError(f"experiment {experiment.get('title')!r} has no {EXTENSION!r} extension")
    alerts = extension.get("alerts", {})
    timeout = extension.get("timeout_s")
    return Mode(
        name=str(extension["mode"]),
        fix=str(extension["fix"]),
        fault=str(extension.get("fault", "")),
        detection=str(extension.get("detection", "")),
        platforms=_strings(extension.get("platforms", PLATFORM_KINDS)),
        must_fire=_per_platform(alerts.get("must_fire")),
        must_not_fire=_per_platform(alerts.get("must_not_fire")),
        silent_is_finding=_strings(alerts.get("silent_is_finding", ())),
        self_heals_on=_strings(extension.get("self_heals_on", ())),
        timeout_s=float(timeout) if timeout is not None else None,
        order=int(extension.get("order", _LAST)),
        path=path,
    )


def expectation_from_experiment(experiment: Mapping[str, Any], platform: str) -> Expectation:
    """Read the ``offgridflow-gameday`` extension; alert lists are per platform kind."""
    return mode_from_experiment(experiment).expectation(platform)


def experiments_dir() -> Path:
    """The project's ``chaos/experiments`` (under :func:`offgridflow_runbook.project.project_root`)."""
    return project_root() / "chaos" / "experiments"


def load_modes(folder: Path | None = None) -> tuple[Mode, ...]:
    """Every mode of ``folder`` (default: the project's ``chaos/experiments``), in the
    game day's order. Reads the files on each call: nothing is read at import."""
    folder = folder or experiments_dir()
    modes = [
        mode_from_experiment(json.loads(path.read_text(encoding="utf-8")), path)
        for path in sorted(folder.glob("*.json"))
    ]
    return tuple(sorted(modes, key=lambda mode: (mode.order, mode.name)))
