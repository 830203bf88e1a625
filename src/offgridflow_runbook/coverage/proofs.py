"""What can prove a runbook step, and where the proofs live: a check in ``checks/``, a triage rule, an
experiment's activity (checked against the Chaos Toolkit activity it names), an alert rule, or a
reason why the step is not proved. Each :class:`Proof` resolves against a :class:`Project`; a project
whose files cannot be read (a partial ``$OFFGRIDFLOW_HOME``, a broken experiment) is a
:class:`CoverageError`, one line naming the file."""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from offgridflow_runbook.files import read_user_text
from offgridflow_runbook.gameday.modes import ModeError, mode_from_experiment
from offgridflow_runbook.project import HOME_ENV, project_root
from offgridflow_runbook.runbook.location import RunbookError
from offgridflow_runbook.runbook.triage import DECISION_TABLE, Cause

__all__ = [
    "Alert",
    "Check",
    "CoverageError",
    "Experiment",
    "NotCovered",
    "Project",
    "Proof",
    "Role",
    "TriageRule",
]

_NOT_THE_ROOT = f"(is ${HOME_ENV} the project's root?)"


class CoverageError(RunbookError):
    """A file of the project the proofs live in cannot be read; one line naming it. A
    :class:`RunbookError`: whoever reports an unreadable runbook (the command line, exit 64; the game
    day's report; the check run's coverage line) reports this the same way."""


class Role(StrEnum):
    """What an experiment's activity is to the step it proves."""

    FAULT = "fault"
    PROBE = "probe"  # the detection that shows the failure
    FIX = "fix"


# -- the project the proofs live in --------------------------------------------------------------------
@dataclass(frozen=True)
class Project:
    """Where the checks, experiments and alert rules are (the repository root by default)."""

    root: Path = field(default_factory=project_root)

    @property
    def checks_dir(self) -> Path:
        return self.root / "checks"

    @property
    def experiments_dir(self) -> Path:
        return self.root / "chaos" / "experiments"

    @property
    def alert_rules(self) -> Path:
        return self.root / "deploy" / "prometheus" / "rules" / "offgridflow.rules.yml"


def _text(path: Path, what: str) -> str:
    """The text of one of the project's files; :class:`CoverageError` when it cannot be read."""
    try:
        return read_user_text(path)
    except FileNotFoundError:
        raise CoverageError(f"{what} {path} not found {_NOT_THE_ROOT}") from None
    except UnicodeDecodeError as error:
        raise CoverageError(f"{what} {path} is not UTF-8 text (byte {error.start}: {error.reason})") from None
    except OSError as error:
        raise CoverageError(f"{what} {path} cannot be read: {error.strerror or error}") from None


def _directory(path: Path, what: str) -> Path:
    # a missing one would make every proof in it "not found": the project is elsewhere, not the proofs
    if not path.is_dir():
        raise CoverageError(f"no {what} directory at {path} {_NOT_THE_ROOT}")
    return path


@cache
def _checks(checks_dir: Path) -> dict[str, tuple[str, str]]:
    """check function name -> (its runbook_step marker, ``checks/file.py::name``)."""
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(_directory(checks_dir, "checks").glob("test_*.py")):
        try:
            module = ast.parse(_text(path, "check file"), str(path))
        except (SyntaxError, ValueError, RecursionError) as error:  # ValueError: a NUL byte
            raise CoverageError(f"check file {path} is not Python: {error}") from None
        for node in module.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and ast.unparse(decorator.func).endswith("mark.runbook_step")
                    and decorator.args
                    and isinstance(decorator.args[0], ast.Constant)
                ):
                    found[node.name] = (str(decorator.args[0].value), f"checks/{path.name}::{node.name}")
    return found


@cache
def _experiments(experiments_dir: Path) -> dict[str, dict[str, Any]]:
    """mode -> the experiment document. A file the game day's list of modes (``gameday.modes``)
    would refuse is refused here too, and so is one whose activity arguments are no mapping."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(_directory(experiments_dir, "experiments").glob("*.json")):
        try:
            document = json.loads(_text(path, "experiment"))
            mode = mode_from_experiment(document, path)
            if any(
                not isinstance(a.get("provider", {}).get("arguments") or {}, dict)
                for a in document.get("method", [])
            ):
                raise ValueError("an activity's arguments are not a mapping")
        except (ModeError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
            raise CoverageError(f"{path}: not an offgridflow game-day experiment ({error})") from None
        found[mode.name] = {**document, "_file": path.name}
    return found


# libyaml's parser when PyYAML has it: the rules file in pure Python is ~20 ms of every check run's
# coverage line. A file it refuses is parsed again in pure Python, whose errors the messages quote.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError:
        return yaml.safe_load(text)


@cache
def _alert_names(rules: Path) -> frozenset[str]:
    try:
        document = _yaml(_text(rules, "alert rules file")) or {}
        return frozenset(
            str(rule["alert"])
            for group in document.get("groups", [])
            for rule in group.get("rules", [])
            if "alert" in rule
        )
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise CoverageError(
            f"alert rules file {rules} is not YAML: {where}{error.problem or error.context}"
        ) from None
    except (yaml.YAMLError, AttributeError, TypeError, KeyError, RecursionError) as error:
        what = " ".join(str(error).split())  # a YAML error's text spans lines
        raise CoverageError(f"alert rules file {rules} is not Prometheus rules: {what}") from None


# -- proofs --------------------------------------------------------------------------------------------
class Proof:
    """Something in the suite that proves a runbook step; :meth:`resolve` says where, or why not."""

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        raise NotImplementedError


@dataclass(frozen=True)
class Check(Proof):
    """A pytest check in ``checks/`` marked with the step."""

    name: str
    step: str | None = None  # the marker it must carry (default: the step being proved)

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        found = _checks(project.checks_dir).get(self.name)
        wanted = self.step or step
        if found is None:
            return False, f"check {self.name} not found in {project.checks_dir}"
        if found[0] != wanted:
            return False, f"check {found[1]} is marked {found[0]!r}, not {wanted!r}"
        return True, f"check {found[1]}"


@dataclass(frozen=True)
class TriageRule(Proof):
    """A branch of the triage tree (``offgridflow_runbook.runbook.triage.DECISION_TABLE``): a rule
    that names ``cause`` and sends it to the runbook section ``section``."""

    cause: Cause
    section: str

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        if not any(rule.cause == self.cause and rule.section == self.section for rule in DECISION_TABLE):
            return False, f"triage has no rule sending {self.cause} to {self.section}"
        return True, f"triage rule {self.cause} -> {self.section}"


@dataclass(frozen=True)
class Experiment(Proof):
    """An activity of a chaos experiment: its ``fault``, detection ``probe`` or ``fix``, optionally
    with the argument values the runbook's command implies (compared with the experiment's, or with
    the function's defaults when the experiment leaves them out)."""

    mode: str
    role: Role
    func: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def _defaults(self) -> dict[str, Any]:
        # imported here: the chaos package loads every phase module and Chaos Toolkit, which the
        # coverage line of a check run does not need when the experiment gives every argument
        from offgridflow_runbook.chaos import activity

        try:
            function = activity(self.func)
        except LookupError:
            return {}
        return {
            name: p.default
            for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        document = _experiments(project.experiments_dir).get(self.mode)
        if document is None:
            return False, f"no experiment with mode {self.mode!r} in {project.experiments_dir}"
        activities = [a for a in document.get("method", []) if a.get("provider", {}).get("func") == self.func]
        if not activities:
            return False, f"experiment {document['_file']} does not call {self.func}"
        provider = activities[0]["provider"]
        given = dict(provider.get("arguments") or {})
        if any(name not in given for name in self.arguments):
            # the function's defaults stand in for what the experiment leaves out
            given = {**self._defaults(), **given}
        differing = {k: (v, given.get(k)) for k, v in self.arguments.items() if given.get(k) != v}
        if differing:
            what = ", ".join(f"{k}: runbook {v!r}, experiment {g!r}" for k, (v, g) in differing.items())
            return False, f"experiment {document['_file']} calls {self.func} with other values ({what})"
        return True, f"experiment {self.mode} {self.role} {self.func}"


@dataclass(frozen=True)
class Alert(Proof):
    """An alerting rule in ``deploy/prometheus/rules``."""

    name: str

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        if self.name not in _alert_names(project.alert_rules):
            return False, f"no alert {self.name} in {project.alert_rules.name}"
        return True, f"alert rule {self.name}"


@dataclass(frozen=True)
class NotCovered(Proof):
    """Deliberately not proved, and why."""

    reason: str

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        return False, self.reason
