"""The record of an operator game day: the scorecard's operator section, the post-incident record
(the calls and the fix seen) and the runbook proposals (what the operators looked up outside it).

Written to ``reports/gameday/operator/``: ``scorecard.json`` (``{"operator": [...]}``, one entry per
mode and target, the latest kept; ``error_budget`` as :mod:`offgridflow_runbook.gameday.error_budget`
gives it), ``<mode>-postmortem.md`` and ``runbook-proposals.md``. The
automated game day's figures for the same mode come from ``reports/gameday/scorecard.json``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offgridflow_runbook.gameday.error_budget import budget_line

__all__ = ["AUTOMATED_SCORECARD", "OPERATOR_REPORTS", "automated_figures", "write_record"]

AUTOMATED_SCORECARD = Path("reports/gameday/scorecard.json")
OPERATOR_REPORTS = Path("reports/gameday/operator")


def automated_figures(mode: str, path: Path = AUTOMATED_SCORECARD) -> dict[str, Any] | None:
    """The automated scorecard's experiment for ``mode`` (None: no such run, or unreadable)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    for experiment in document.get("experiments") or [] if isinstance(document, dict) else []:
        if isinstance(experiment, dict) and experiment.get("mode") == mode:
            return experiment
    return None


def _s(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f} s"


def _postmortem(score: dict[str, Any]) -> str:
    when = datetime.fromtimestamp(score["started_at"], UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Operator game day: {score['mode']} on {score['target']} ({when})",
        "",
        f"Outcome: **{score['outcome']}**. The injected fault is fixed by {score['section']}. "
        f"Outage {_s(score['outage_s'])} against the SLA's {_s(score['sla_s'])}.",
        "",
        f"Error budget: {budget_line(score.get('error_budget'))}.",
        "",
        "## Timeline (from the fault)",
        "",
        "| phase | reached | runbook budget | took | met | automated game day |",
        "|---|---|---|---|---|---|",
    ]
    for phase, at in score["reached_s"].items():
        budget = score["budgets"].get(phase)
        if budget is None:
            automated = score["automated_s"].get(phase)
            lines.append(f"| {phase} | {_s(at)} | | | | {_s(automated)} |")
            continue
        lines.append(
            f"| {phase} | {_s(at)} | {budget['budget']} {_s(budget['budget_s'])} | {_s(budget['elapsed_s'])} "
            f"| {'yes' if budget['met'] else 'no'} | {_s(budget.get('automated_s'))} |"
        )
    page = score.get("page")
    lines += [
        "",
        "## The page",
        "",
        f"{page['alert']} to {page['receiver']}: {page['summary']}" if page else "No page was delivered.",
    ]
    lines += ["", "## Calls", ""]
    lines += [
        f"- {call['section']} at {_s(call['after_fault_s'])}: {'right' if call['right'] else 'wrong'}"
        for call in score["calls"]
    ] or ["- none"]
    fix = score.get("fix_seen")
    lines += ["", "## The fix seen on the target", ""]
    if fix is None:
        lines.append("No change a runbook fix makes was seen.")
    else:
        who = "the safety net (auto-fixed)" if fix["auto"] else "the operators"
        lines.append(f"{fix['change']} ({fix['section']}, by {who}, at {_s(fix['after_fault_s'])})")
    lines += ["", "## Looked up outside the runbook", ""]
    lines += [f"- {note['text']}" for note in score["notes"]] or ["- nothing"]
    return "\n".join(lines) + "\n"


def _proposals(scores: list[dict[str, Any]]) -> str:
    lines = ["# Runbook proposals from operator game days", ""]
    for score in scores:
        items = [f"- The operators looked up, outside the runbook: {note['text']}" for note in score["notes"]]
        items += [
            f"- {call['section']} was called for a fault {score['section']} fixes: say in Triage what tells "
            "them apart"
            for call in score["calls"]
            if not call["right"]
        ]
        items += [
            f"- {phase}: took {_s(budget['elapsed_s'])} against the runbook's {_s(budget['budget_s'])} "
            f"({budget['budget']}): the budget or the step needs a look"
            for phase, budget in score["budgets"].items()
            if budget["done"] and not budget["met"]
        ]
        if score["auto_fixed"]:
            items.append("- the safety net fixed it before the operators did: the SLA was at risk")
        lines += [f"## {score['mode']} on {score['target']}", "", *(items or ["- none"]), ""]
    return "\n".join(lines)


def write_record(score: dict[str, Any], directory: Path = OPERATOR_REPORTS) -> dict[str, Path]:
    """Add ``score`` (the operator section of one run) to the record and rewrite its files."""
    directory.mkdir(parents=True, exist_ok=True)
    card = directory / "scorecard.json"
    try:
        kept = json.loads(card.read_text(encoding="utf-8")).get("operator") or []
    except (OSError, ValueError, AttributeError):
        kept = []
    kept = [s for s in kept if (s.get("mode"), s.get("target")) != (score["mode"], score["target"])]
    scores = [*kept, score]
    card.write_text(json.dumps({"operator": scores}, indent=2, default=str) + "\n", encoding="utf-8")
    postmortem = directory / f"{score['mode']}-postmortem.md"
    postmortem.write_text(_postmortem(score), encoding="utf-8")
    proposals = directory / "runbook-proposals.md"
    proposals.write_text(_proposals(scores), encoding="utf-8")
    return {"scorecard": card, "postmortem": postmortem, "proposals": proposals}
