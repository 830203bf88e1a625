"""The coverage report: every step, command and alert of a runbook with what proves it, and the drift
both ways between the runbook and the suite."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from offgridflow_runbook.coverage.proofs import Alert, Project, Proof
from offgridflow_runbook.coverage.rules import COMMANDS, STEPS, CommandRule, StepRule
from offgridflow_runbook.runbook.document import Runbook, load_runbook

__all__ = ["CoverageItem", "CoverageReport", "ItemKind", "Status", "coverage", "runbook_coverage"]


class ItemKind(StrEnum):
    """What a coverage item is in the runbook."""

    ALERT = "alert"
    STEP = "step"
    COMMAND = "command"


class Status(StrEnum):
    """Whether the suite proves an item: covered, deliberately not (with why), or mapped to nothing."""

    COVERED = "covered"
    NOT_COVERED = "not covered"
    UNMAPPED = "unmapped"


# -- the report ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoverageItem:
    """One runbook step or command, and what proves it."""

    step: str
    line: int
    kind: ItemKind
    text: str
    status: Status
    proofs: tuple[str, ...] = ()  # the resolved proofs, or the reasons it is not covered

    @property
    def covered(self) -> bool:
        return self.status == Status.COVERED


@dataclass(frozen=True)
class CoverageReport:
    runbook: Path
    items: tuple[CoverageItem, ...]
    stale: tuple[str, ...] = ()  # map entries that match nothing in the runbook

    @property
    def percent(self) -> float:
        return 100.0 * sum(i.covered for i in self.items) / len(self.items) if self.items else 0.0

    @property
    def unmapped(self) -> tuple[CoverageItem, ...]:
        return tuple(i for i in self.items if i.status == Status.UNMAPPED)

    @property
    def drift(self) -> tuple[str, ...]:
        """Both directions of runbook <-> suite drift, one message each (empty: none)."""
        return (
            tuple(
                f"{self.runbook.name}:{i.line}: {i.step}: {i.kind} `{i.text}`: "
                "nothing in the suite maps to it"
                for i in self.unmapped
            )
            + self.stale
        )

    def summary(self) -> str:
        covered = sum(i.covered for i in self.items)
        return (
            f"runbook coverage: {covered}/{len(self.items)} steps and commands proved ({self.percent:.0f}%)"
        )

    def table(self) -> str:
        rows = [("line", "step", "item", "status", "proved by / why not")]
        for item in self.items:
            text = item.text if len(item.text) <= 70 else item.text[:67] + "..."
            rows.append((str(item.line), item.step, text, item.status, "; ".join(item.proofs) or "-"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "runbook": str(self.runbook),
            "percent": round(self.percent, 1),
            "covered": sum(i.covered for i in self.items),
            "items": len(self.items),
            "not_covered": [
                {"step": i.step, "line": i.line, "text": i.text, "status": i.status, "why": list(i.proofs)}
                for i in self.items
                if not i.covered
            ],
            "drift": list(self.drift),
        }


def _names(proofs: tuple[Proof, ...]) -> str:
    return ", ".join(
        getattr(p, "name", None) or getattr(p, "func", None) or getattr(p, "cause", None) or "not covered"
        for p in proofs
    )


def _judge(proofs: tuple[Proof, ...], project: Project, step: str) -> tuple[Status, tuple[str, ...]]:
    resolved = [proof.resolve(project, step) for proof in proofs]
    good = tuple(what for ok, what in resolved if ok)
    if good:
        return Status.COVERED, good
    return Status.NOT_COVERED, tuple(what for _, what in resolved)


def coverage(
    runbook: Runbook,
    project: Project | None = None,
    steps: tuple[StepRule, ...] = STEPS,
    commands: tuple[CommandRule, ...] = COMMANDS,
) -> CoverageReport:
    """Map every step, command and alert of ``runbook`` to its proofs in ``project``."""
    project = project or Project()
    items: list[CoverageItem] = []
    alert_status, alert_proofs = _judge((Alert(runbook.alert),), project, "Alert Name")
    items.append(
        CoverageItem(
            "Alert Name", runbook.alert_line, ItemKind.ALERT, runbook.alert, alert_status, alert_proofs
        )
    )
    for name, line in runbook.related_alerts.items():
        status, proofs = _judge((Alert(name),), project, "Related Alerts")
        items.append(CoverageItem("Related Alerts", line, ItemKind.ALERT, name, status, proofs))
    used_steps: set[int] = set()
    used_commands: set[int] = set()
    for step in runbook.steps:
        step_rules = [i for i, rule in enumerate(steps) if rule.step == step.id]
        used_steps.update(step_rules)
        if step_rules:
            status, proofs = _judge(tuple(p for i in step_rules for p in steps[i].proofs), project, step.id)
            items.append(CoverageItem(step.id, step.line, ItemKind.STEP, step.title, status, proofs))
        else:
            items.append(CoverageItem(step.id, step.line, ItemKind.STEP, step.title, Status.UNMAPPED))
        for command in step.commands:
            rules = [i for i, rule in enumerate(commands) if rule.match(command) and i not in used_commands]
            if not rules:
                items.append(
                    CoverageItem(step.id, command.line, ItemKind.COMMAND, command.text, Status.UNMAPPED)
                )
                continue
            used_commands.add(rules[0])
            status, proofs = _judge(commands[rules[0]].proofs, project, step.id)
            items.append(CoverageItem(step.id, command.line, ItemKind.COMMAND, command.text, status, proofs))
    for command in runbook.stray_commands:
        items.append(
            CoverageItem(
                "outside the procedures", command.line, ItemKind.COMMAND, command.text, Status.UNMAPPED
            )
        )
    stale = tuple(
        f"{runbook.path.name}: {rule.step}: the suite proves this step ({_names(rule.proofs)}) "
        "but the runbook has no such step"
        for i, rule in enumerate(steps)
        if i not in used_steps
    ) + tuple(
        f"{runbook.path.name}: {rule.step}: the suite proves `{rule.command}` ({_names(rule.proofs)}) "
        f"but the runbook's {rule.step} has no such command"
        for i, rule in enumerate(commands)
        if i not in used_commands
    )
    return CoverageReport(runbook.path, tuple(items), stale)


def runbook_coverage(runbook: Path | str | None = None) -> CoverageReport:
    """The coverage of the runbook at ``runbook`` (default: ``$OFFGRIDFLOW_RUNBOOK``, else the
    project's) by the project's checks, experiments and alert rules."""
    return coverage(load_runbook(runbook))
