"""Runbook change proposals that a game day earned: ``runbook-proposals.md`` and a unified diff.

The runbook's post-incident step 3 says "Update runbook if new issue or solution discovered". Each
proposal here is earned by evidence in the scorecard (a page from an alert the runbook does not name,
an alert that stayed silent, a finding about a fix, a time budget overrun) and says what to change;
findings are picked by what they earn (``gameday.findings``: their ids), never by their wording;
where the change is a concrete edit, it is applied to the runbook's text and the edits together
become ``runbook-proposals.diff`` (``git apply`` it from the repository's root). Nothing is proposed
without evidence, and the runbook itself is never changed here: its owners review the proposals.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from offgridflow_runbook.gameday.findings import Change
from offgridflow_runbook.gameday.scorecard import ExperimentScore, Scorecard
from offgridflow_runbook.probes.prometheus import DEFAULT_RULES_FILE
from offgridflow_runbook.runbook.location import RUNBOOK_IN_PROJECT, runbook_path

__all__ = ["FIX_5_COMMANDS", "Proposal", "propose", "runbook_diff", "write_proposals"]

RUNBOOK_PATH = RUNBOOK_IN_PROJECT.as_posix()  # as the diff names it, from the repository root

# Fix 1's restart as the runbook writes it, and as proposed when the database pod crash-loops.
_FIX_1_RESTART = (
    "# If database is down, restart it\nkubectl rollout restart statefulset/postgres -n offgridflow"
)
_FIX_1_RESTART_LOOPING = (
    "# If database is down, restart it. A pod in CrashLoopBackOff is not replaced by the restart (the\n"
    "# StatefulSet waits for kubelet's back-off): delete it, the StatefulSet recreates it at once\n"
    "kubectl delete pod -n offgridflow -l app=postgres --wait=false\n"
    "kubectl rollout restart statefulset/postgres -n offgridflow"
)

# Fix 3 as the runbook writes it, and as proposed when the Deployment reads a generated ConfigMap.
_FIX_3_CONFIGMAP = "kubectl get configmap offgridflow-config -n offgridflow -o yaml"
_FIX_3_CONFIGMAP_USED = (
    "# (with a generated ConfigMap the name is offgridflow-config-<hash>: read the one the Deployment uses)\n"
    "kubectl get configmap -n offgridflow -o yaml \\\n"
    "  $(kubectl get deployment offgridflow-api -n offgridflow \\\n"
    "    -o jsonpath='{.spec.template.spec.containers[?(@.name==\"api\")].envFrom[*].configMapRef.name}')"
)

# Fix 5 as the suite applies it where the runbook has none (Triage 2D; chaos.fixes' Fix 5): the
# commands an operator runs, in the runbook's style, inserted before Verification (the kind tier runs
# them as written: tests/kind/test_kind_driver_changes.py).
_FIX_5_TITLE = "Fix 5: Network/Ingress Issues"
FIX_5_COMMANDS = r"""# Compare what the Service selects with the API pods' labels (ready, yet no endpoint)
kubectl get service offgridflow-api-service -n offgridflow -o jsonpath='{.spec.selector}'
kubectl get pods -n offgridflow -l app=offgridflow-api --show-labels

# Select the Deployment's pods again: the Service's selector back to the Deployment's pod labels
kubectl patch service offgridflow-api-service -n offgridflow --type=json -p \
  "[{\"op\": \"replace\", \"path\": \"/spec/selector\", \"value\": $(kubectl get deployment \
  offgridflow-api -n offgridflow -o jsonpath='{.spec.selector.matchLabels}')}]"

# Ready endpoints again
kubectl get endpoints offgridflow-api-service -n offgridflow
"""
_FIX_5 = f"### {_FIX_5_TITLE}\n\n```bash\n{FIX_5_COMMANDS}```\n\n"
_VERIFICATION_HEADING = "## Verification"


def _insert_fix_5(runbook: str) -> str:
    head, marker, tail = runbook.partition(_VERIFICATION_HEADING)
    if not marker or f"### {_FIX_5_TITLE}" in runbook:
        return runbook
    return f"{head}{_FIX_5}{marker}{tail}"


@dataclass(frozen=True)
class Proposal:
    """One proposed runbook change and the evidence that earned it."""

    title: str
    change: str
    evidence: tuple[str, ...]
    edit: Callable[[str], str] | None = field(default=None, compare=False)


def _alert_names_in(runbook: str) -> set[str]:
    """The alert the runbook is for and its "Related Alerts"."""
    names = set(re.findall(r"\*\*Alert Name\*\*: `(\w+)`", runbook))
    related = runbook.split("## Related Alerts", 1)[-1].split("\n## ", 1)[0]
    return names | set(re.findall(r"^- `(\w+)`", related, flags=re.MULTILINE))


def _rules(rules_file: Path) -> dict[str, dict[str, Any]]:
    document = yaml.safe_load(rules_file.read_text(encoding="utf-8")) or {}
    return {
        str(rule["alert"]): rule
        for group in document.get("groups", [])
        for rule in group.get("rules", [])
        if "alert" in rule
    }


def _section_title(runbook: str, url: str) -> str:
    """The heading a ``runbook_url`` anchor points to (GitHub's slug), else the runbook's title."""
    anchor = url.partition("#")[2]
    for heading in re.findall(r"^#+ (.+)$", runbook, flags=re.MULTILINE):
        if re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") == anchor:
            return str(heading).strip()
    return "the whole runbook"


def _add_related_alert(line: str) -> Callable[[str], str]:
    def edit(runbook: str) -> str:
        head, marker, rest = runbook.partition("## Related Alerts\n")
        if not marker:
            return runbook
        body, separator, tail = rest.partition("\n## ")
        return f"{head}{marker}{body.rstrip(chr(10))}\n{line}\n{separator}{tail}"

    return edit


def _replace(old: str, new: str) -> Callable[[str], str]:
    return lambda runbook: runbook.replace(old, new, 1)


def _page_evidence(score: ExperimentScore) -> str:
    page = score.page or {}
    floor = page.get("floor_s")
    timing = f", floor {floor:.1f} s" if floor is not None else ""
    return (
        f"{score.mode}: paged by {page.get('alert')} to {page.get('receiver')} "
        f"{page.get('mttd_s', 0.0):.1f} s after the fault{timing}"
    )


def _alert_proposals(scorecard: Scorecard, runbook: str, rules: dict[str, dict[str, Any]]) -> list[Proposal]:
    named = _alert_names_in(runbook)
    proposals = []
    for alert in sorted(rules):
        if alert in named:
            continue
        pages = [score for score in scorecard.experiments if score.page and score.page.get("alert") == alert]
        if not pages:
            continue
        silent = [
            finding.cited
            for score in pages
            for finding in score.records
            if finding.earns == Change.NAME_THE_ALERT_THAT_PAGED
        ]
        section = _section_title(runbook, str(rules[alert].get("annotations", {}).get("runbook_url", "")))
        severity = rules[alert].get("labels", {}).get("severity", "")
        proposals.append(
            Proposal(
                title=f"Name `{alert}` in Related Alerts",
                change=f"Add `{alert}` ({severity}, leads to {section}) to Related Alerts: it is the page "
                "for a failure mode the runbook's own alert does not page for.",
                evidence=tuple([*(_page_evidence(score) for score in pages), *silent]),
                edit=_add_related_alert(f"- `{alert}` - paged for {section}"),
            )
        )
    return proposals


def _crash_loop_proposal(scorecard: Scorecard, runbook: str) -> list[Proposal]:
    evidence = []
    for score in scorecard.experiments:
        for alert in score.alerts:
            caused = (
                score.fault_at is not None
                and alert.firing_at is not None
                and alert.firing_at >= score.fault_at
            )
            if alert.name == "PodCrashLooping" and caused and alert.resolved_at and score.recovered_at:
                evidence.append(
                    f"{score.mode}: PodCrashLooping resolved {alert.resolved_at - score.recovered_at:.0f} s "
                    "after the service recovered"
                )
    old = "- `PodCrashLooping` - Pod restart issues"
    if not evidence or old not in runbook:
        return []
    return [
        Proposal(
            title="Say when PodCrashLooping resolves",
            change="PodCrashLooping now resolves once the pod has stayed ready for 1 minute (it used to stay "
            "firing for up to 10 minutes after recovery, longer than Verification's 3 minutes); say so, "
            "so that on-call does not wait on it or distrust Verification 5.",
            evidence=tuple(evidence),
            edit=_replace(old, old + " (resolves once the pod has stayed ready for 1 minute)"),
        )
    ]


def _evidence(scorecard: Scorecard, change: Change) -> list[str]:
    """Each experiment's findings that earn ``change`` (by their ids), as ``mode: evidence``."""
    return [
        finding.cited
        for score in scorecard.experiments
        for finding in score.records
        if finding.earns == change
    ]


def _seconds(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "not measured"


def _fix_5_evidence(scorecard: Scorecard) -> list[str]:
    """Each experiment whose findings earn a Fix 5 (by id), with what the game day measured: the
    time from the fix's start to the service back, and the outage."""
    lines = []
    for score in scorecard.experiments:
        if not any(finding.earns == Change.ADD_FIX_5_NETWORK for finding in score.records):
            continue
        took = (
            score.recovered_at - score.fix_started_at
            if score.recovered_at is not None and score.fix_started_at is not None
            else None
        )
        lines.append(
            f"{score.mode} on {scorecard.platform} ({score.status}): the Service's selector set back to "
            f"the Deployment's pod labels; service back {_seconds(took)} after the fix started; "
            f"MTTR {_seconds(score.mttr_s)}"
        )
    return lines


def _finding_proposals(scorecard: Scorecard, runbook: str) -> list[Proposal]:
    proposals = []
    configmap = _evidence(scorecard, Change.FIX_3_READ_THE_DEPLOYMENTS_CONFIGMAP)
    if configmap and _FIX_3_CONFIGMAP in runbook:
        proposals.append(
            Proposal(
                title="Fix 3: read the ConfigMap the Deployment uses",
                change="`kubectl get configmap offgridflow-config` answers NotFound when the ConfigMap is "
                "generated with a content hash (kustomize), and shows the edited data when it is edited in "
                "place; read the ConfigMap the Deployment references instead.",
                evidence=tuple(configmap),
                edit=_replace(_FIX_3_CONFIGMAP, _FIX_3_CONFIGMAP_USED),
            )
        )
    looping = _evidence(scorecard, Change.FIX_1_DELETE_A_CRASH_LOOPING_DATABASE_POD)
    if looping and _FIX_1_RESTART in runbook:
        proposals.append(
            Proposal(
                title="Fix 1: replace a crash-looping database pod instead of waiting for its back-off",
                change="`kubectl rollout restart statefulset/postgres` does not replace a postgres pod in "
                "CrashLoopBackOff; the StatefulSet waits until kubelet's back-off starts it again. Delete "
                "the pod first.",
                evidence=tuple(looping),
                edit=_replace(_FIX_1_RESTART, _FIX_1_RESTART_LOOPING),
            )
        )
    fix_5 = _fix_5_evidence(scorecard)
    if fix_5 and f"### {_FIX_5_TITLE}" not in runbook and _VERIFICATION_HEADING in runbook:
        proposals.append(
            Proposal(
                title=_FIX_5_TITLE,
                change="Triage 2D finds the API Service without ready endpoints while the API pods are "
                "ready, and the runbook stops there: it has no fix. Add a Fix 5 with the commands that "
                "put the Service's selector back to the Deployment's pod labels: the game day made that "
                "change (through the platform's API) and measured it, and the kind tier runs these lines "
                "as written.",
                evidence=tuple(fix_5),
                edit=_insert_fix_5,
            )
        )
    silent_pages = _evidence(scorecard, Change.FIX_THE_PAGE)
    if silent_pages:
        proposals.append(
            Proposal(
                title="A failure mode did not page",
                change="Fix the alert or its routing before relying on this runbook for that mode: on-call "
                "would not have been paged.",
                evidence=tuple(silent_pages),
            )
        )
    return proposals


def _budget_proposals(scorecard: Scorecard) -> list[Proposal]:
    overruns: dict[str, list[str]] = {}
    for score in scorecard.experiments:
        for name, budget in score.budgets.items():
            if budget.get("actual_s") is not None and not budget.get("met"):
                overruns.setdefault(name, []).append(
                    f"{score.mode}: {budget['actual_s']:.0f} s against {budget['budget_s']:.0f} s"
                )
    return [
        Proposal(
            title=f"The {name} budget was overrun",
            change=f"Either make the {name} step faster (what the evidence shows it waited on) or give the "
            "runbook's step a budget it can keep.",
            evidence=tuple(evidence),
        )
        for name, evidence in sorted(overruns.items())
    ]


def propose(scorecard: Scorecard, runbook: str, *, rules_file: Path = DEFAULT_RULES_FILE) -> list[Proposal]:
    """Every proposal the scorecard's evidence earns, most actionable first."""
    rules = _rules(rules_file)
    return [
        *_finding_proposals(scorecard, runbook),
        *_alert_proposals(scorecard, runbook, rules),
        *_crash_loop_proposal(scorecard, runbook),
        *_budget_proposals(scorecard),
    ]


def runbook_diff(runbook: str, proposals: list[Proposal]) -> str:
    """The proposals' edits as one unified diff against the runbook ('' when none edits it)."""
    changed = runbook
    for proposal in proposals:
        if proposal.edit is not None:
            changed = proposal.edit(changed)
    return "".join(
        difflib.unified_diff(
            runbook.splitlines(keepends=True),
            changed.splitlines(keepends=True),
            fromfile=f"a/{RUNBOOK_PATH}",
            tofile=f"b/{RUNBOOK_PATH}",
        )
    )


def _markdown(scorecard: Scorecard, proposals: list[Proposal], diff_name: str | None) -> str:
    lines = [
        "# Runbook change proposals",
        "",
        f"From the game day on {scorecard.target} ({scorecard.platform}, alert profile {scorecard.profile}); "
        f"runbook `{RUNBOOK_PATH}`.",
        "",
    ]
    if not proposals:
        lines += ["No change proposed: the game day found no evidence against the runbook.", ""]
    for number, proposal in enumerate(proposals, 1):
        lines += [f"## {number}. {proposal.title}", "", proposal.change, "", "Evidence:", ""]
        lines += [f"- {item}" for item in proposal.evidence]
        lines += [
            "",
            f"Edit: in `{diff_name}`." if proposal.edit and diff_name else "Edit: none (a decision).",
            "",
        ]
    return "\n".join(lines)


def write_proposals(
    scorecard: Scorecard,
    directory: Path,
    *,
    runbook_file: Path | None = None,
    rules_file: Path = DEFAULT_RULES_FILE,
) -> dict[str, Path]:
    """Write ``runbook-proposals.md`` and ``runbook-proposals.diff`` into ``directory``, proposed
    against ``runbook_file`` (default: ``$OFFGRIDFLOW_RUNBOOK``, else the project's runbook)."""
    runbook = runbook_path(runbook_file).read_text(encoding="utf-8")
    proposals = propose(scorecard, runbook, rules_file=rules_file)
    diff = runbook_diff(runbook, proposals)
    directory.mkdir(parents=True, exist_ok=True)
    diff_path = directory / "runbook-proposals.diff"
    diff_path.write_text(diff, encoding="utf-8")
    markdown = directory / "runbook-proposals.md"
    markdown.write_text(_markdown(scorecard, proposals, diff_path.name if diff else None), encoding="utf-8")
    return {"proposals": markdown, "proposals-diff": diff_path}
