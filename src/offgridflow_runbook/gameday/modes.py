"""The failure modes the game day breaks, read from the experiments: the one list of modes.

Each ``chaos/experiments/<mode>.json`` carries an ``offgridflow-gameday`` extension (mode, fault,
the runbook section whose fix it proves, the detection, the alerts that must and must not page per
platform kind, where it runs); its method names the fault activities
(``offgridflow_runbook.chaos.faults``) and the runbook's fix (``offgridflow_runbook.chaos.fixes``)
with their arguments. :func:`load_modes` reads every experiment file into a :class:`Mode`
(:func:`modes_by_name`: the same, by name); the game day, the operator game day, the coverage map
and the tests take the list from here, so a new mode is a new experiment file, never a new entry in
a list written by hand.

The game day runs the modes in their ``order`` (the extension's; files without one come last, by
name): the order the scorecard lists them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offgridflow_runbook.files import read_user_text
from offgridflow_runbook.project import project_root

__all__ = [
    "EXTENSION",
    "FAULTS_MODULE",
    "FIXES_MODULE",
    "PLATFORM_KINDS",
    "Activity",
    "Expectation",
    "Mode",
    "ModeError",
    "expectation_from_experiment",
    "experiments_dir",
    "load_modes",
    "mode_from_experiment",
    "modes_by_name",
]

EXTENSION = "offgridflow-gameday"
# the Chaos Toolkit modules of the method's fault and fix actions (the game day sits below chaos, so
# it names them rather than importing them; tests/gameday holds them to chaos.registry)
FAULTS_MODULE = "offgridflow_runbook.chaos.faults"
FIXES_MODULE = "offgridflow_runbook.chaos.fixes"
# the platform kinds an experiment runs on when its extension names none
PLATFORM_KINDS = ("docker", "kubernetes")
_LAST = 1_000_000  # the order of an experiment whose extension names none


class ModeError(ValueError):
    """An experiment file that is not a game-day experiment, or a folder without any (one line)."""


@dataclass(frozen=True)
class Activity:
    """One action of an experiment's method: its Chaos Toolkit module, function and arguments (with
    ``${target}`` as written in the file; :meth:`for_target` fills it in)."""

    module: str
    func: str
    arguments: Mapping[str, Any]

    def for_target(self, target: str) -> dict[str, Any]:
        """The arguments to call the activity with on ``target`` (the name ``${target}`` stands for)."""
        return {key: target if value == "${target}" else value for key, value in self.arguments.items()}


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
    faults: tuple[Activity, ...] = ()  # the method's fault actions (set-up included), in order
    fixes: tuple[Activity, ...] = ()  # the method's fix actions: the runbook's fix, in order

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


def _actions(method: Sequence[Mapping[str, Any]], module: str) -> tuple[Activity, ...]:
    return tuple(
        Activity(module, str(step["provider"]["func"]), dict(step["provider"].get("arguments") or {}))
        for step in method
        if step.get("type") == "action" and step.get("provider", {}).get("module") == module
    )


def mode_from_experiment(experiment: Mapping[str, Any], path: Path | None = None) -> Mode:
    """The mode an experiment document describes (its ``offgridflow-gameday`` extension and the fault
    and fix actions of its method). :class:`ModeError` if it has no such extension."""
    extensions = experiment.get("extensions", [])
    extension = next((item for item in extensions if item.get("name") == EXTENSION), None)
    if extension is None:
        raise ModeError(f"experiment {experiment.get('title')!r} has no {EXTENSION!r} extension")
    method = experiment.get("method", [])
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
        faults=_actions(method, FAULTS_MODULE),
        fixes=_actions(method, FIXES_MODULE),
    )


def expectation_from_experiment(experiment: Mapping[str, Any], platform: str) -> Expectation:
    """Read the ``offgridflow-gameday`` extension; alert lists are per platform kind."""
    return mode_from_experiment(experiment).expectation(platform)


def experiments_dir() -> Path:
    """The project's ``chaos/experiments`` (under :func:`offgridflow_runbook.project.project_root`)."""
    return project_root() / "chaos" / "experiments"


def _read(path: Path) -> Mode:
    try:
        return mode_from_experiment(json.loads(read_user_text(path)), path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ModeError(f"{path}: not an offgridflow game-day experiment ({error})") from None


def load_modes(folder: Path | None = None) -> tuple[Mode, ...]:
    """Every mode of ``folder`` (default: the project's ``chaos/experiments``), in the
    game day's order. Reads the files on each call: nothing is read at import. A file that is not a
    game-day experiment is a :class:`ModeError` naming it."""
    folder = folder or experiments_dir()
    modes = [_read(path) for path in sorted(folder.glob("*.json"))]
    return tuple(sorted(modes, key=lambda mode: (mode.order, mode.name)))


def modes_by_name(folder: Path | None = None) -> dict[str, Mode]:
    """:func:`load_modes` by mode name, sorted by name (what a person picks from). A folder without
    any experiment is a :class:`ModeError`."""
    folder = folder or experiments_dir()
    modes = load_modes(folder)
    if not modes:
        raise ModeError(f"no experiments in {folder}")
    return {mode.name: mode for mode in sorted(modes, key=lambda mode: mode.name)}
