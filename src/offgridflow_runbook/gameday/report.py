"""The game day's files: ``scorecard.json``, a self-contained ``index.html`` (charts embedded as
base64 PNG), one post-incident record per experiment (``<mode>-postmortem.md``) and
``runbook-coverage.json`` (how much of the runbook the suite proves, shown in ``index.html`` too)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from offgridflow_runbook.gameday.error_budget import budget_burned, budget_line
from offgridflow_runbook.gameday.scorecard import ExperimentScore, Scorecard, iso, sla_s
from offgridflow_runbook.gameday.timeline import timeline_png
from offgridflow_runbook.runbook import RunbookError

__all__ = ["CoverageRow", "RunbookCoverage", "postmortem_markdown", "write_reports"]


class CoverageRow(Protocol):
    """One runbook step or command of the coverage report (``offgridflow_runbook.coverage``)."""

    @property
    def line(self) -> int: ...
    @property
    def step(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def proofs(self) -> tuple[str, ...]: ...
    @property
    def covered(self) -> bool: ...


class RunbookCoverage(Protocol):
    """What the game day shows of the runbook's coverage. The coverage package sits above ``chaos``
    (it reads the experiments' activities), so the game day is handed it, never imports it."""

    @property
    def items(self) -> Sequence[CoverageRow]: ...
    @property
    def stale(self) -> Sequence[str]: ...
    def summary(self) -> str: ...
    def as_dict(self) -> dict[str, Any]: ...


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def _yes(met: bool) -> str:
    return "yes" if met else "NO"


def postmortem_markdown(score: ExperimentScore, scorecard: Scorecard) -> str:
    """The post-incident record: root cause, time to detect, time to resolve, impact."""
    earlier = {(item["name"], item["since"]) for item in score.pre_fault_alerts}
    alerts = [
        f"- {a.name}: pending {iso(a.pending_at) or '-'}, firing {iso(a.firing_at) or '-'}, "
        f"resolved {iso(a.resolved_at) or '-'}"
        for a in score.alerts
        if (a.pending_at or a.firing_at) is not None and (a.name, a.pending_at or a.firing_at) not in earlier
    ] or ["- none of the runbook's alerts became pending after the fault"]
    pre_fault = [
        f"- {item['name']}: {item['state']} since {iso(item['since'])} (before the fault; not counted)"
        for item in score.pre_fault_alerts
    ]
    budgets = [
        f"| {name} | {b['budget_s'] / 60:.0f} min | {_seconds(b['actual_s'])} | {_yes(b['met'])} |"
        for name, b in score.budgets.items()
    ]
    writes = (
        f"{score.acked_writes} acknowledged writes, {score.lost_writes} lost"
        if score.acked_writes is not None
        else "no write load in this experiment"
    )
    lines = [
        f"# Post-incident record: {score.mode} (game day on {scorecard.target})",
        "",
        f"Status: **{score.status}** · platform {scorecard.platform} · alert profile {scorecard.profile}",
        "",
        "## Root cause",
        "",
        f"Injected fault: {score.fault} at {iso(score.fault_at) or 'n/a'}.",
        f"Triage diagnosis: {score.diagnosis.get('cause', 'none')} -> runbook section "
        f"**{score.diagnosis.get('section', 'none')}**.",
        "",
        "## Triage verdicts (what `diagnose` said from the fault to the fix)",
        "",
        *_verdict_lines(score),
        "",
        "## Timeline",
        "",
        f"- detected {iso(score.detected_at) or 'never'} by: {score.detection_signal or 'n/a'}",
        *(
            [f"- healed by itself {iso(score.self_healed_at)}: no runbook step was needed"]
            if score.self_healed_at is not None
            else []
        ),
        f"- fix started {iso(score.fix_started_at) or 'never'}: {score.fix or 'n/a'}",
        f"- service recovered {iso(score.recovered_at) or 'never'}",
        f"- Verification 1-5 passed {iso(score.verified_at) or 'never'}",
        "",
        "## Alerts",
        "",
        *alerts,
        "",
        *(["Already pending or firing before the fault:", "", *pre_fault, ""] if pre_fault else []),
        "## Time to detect, time to resolve, impact",
        "",
        f"- time to detect (MTTD, fault -> first page delivered): {_seconds(score.mttd_s)}; "
        + _page_line(score),
        f"- the suite's own detection (0.5 s polling, not a page): {_seconds(score.suite_mttd_s)}",
        f"- time to resolve (MTTR, fault -> service recovered): {_seconds(score.mttr_s)}",
        f"- impact duration (outage seen by a synthetic client): {_seconds(score.outage_s)}; "
        f"SLA (under {sla_s() / 60:.0f} minutes) {'met' if score.sla_met else 'NOT met'}",
        f"- error budget: {budget_line(score.error_budget.as_dict())}",
        f"- data: {writes}",
        "",
        "| runbook budget | limit | actual | met |",
        "|---|---|---|---|",
        *budgets,
        "",
        "## Findings",
        "",
        *([f"- {finding}" for finding in score.findings] or ["- none"]),
        "",
    ]
    if score.failures:
        lines += ["## Why it failed", "", *[f"- {failure}" for failure in score.failures], ""]
    return "\n".join(lines)


def _verdict_lines(score: ExperimentScore) -> list[str]:
    triage = score.triage
    if not triage.verdicts:
        return ["- no verdict was recorded between the fault and the fix"]
    lines = [
        f"- +{v['at_s']:.1f} s: {v['section']} ({v['outcome']})"
        f"{' - right' if v['right'] else ''}: {v['summary']}"
        for v in triage.verdicts
    ]
    right = _seconds(triage.right_s) if triage.right_s is not None else "never"
    lines.append(
        f"- first verdict after {_seconds(triage.first_s)}; the right one after {right}; "
        f"wrong ones seen: {', '.join(triage.wrong) or 'none'}"
    )
    return lines


def _page_line(score: ExperimentScore) -> str:
    if score.page is None:
        return f"no page ({score.pages_unknown})" if score.pages_unknown else "no page reached the receiver"
    page = score.page
    floor = (
        "" if page.get("floor_s") is None else f", floor {page['floor_s']:.1f} s, lag {page['lag_s']:+.1f} s"
    )
    return f"paged by {page['alert']} to {page['receiver']}{floor}"


def _row(score: ExperimentScore) -> str:
    cells = [
        score.mode,
        score.status,
        _seconds(score.mttd_s),
        score.page["alert"] if score.page else "none",
        _seconds(score.suite_mttd_s),
        _seconds(score.mttr_s),
        _seconds(score.outage_s),
        "yes" if score.sla_met else "no",
        budget_burned(score.error_budget.as_dict()),
        score.diagnosis.get("section", "-"),
        ", ".join(a.name for a in score.alerts if a.fired) or "none",
        "-" if score.acked_writes is None else f"{score.acked_writes} / {score.lost_writes}",
    ]
    status_class = "passed" if score.status == "passed" else "failed"
    return (
        "<tr>"
        + "".join(
            f'<td class="{status_class}">{html.escape(c)}</td>' if i == 1 else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(cells)
        )
        + "</tr>"
    )


def _section(score: ExperimentScore, outages: list[tuple[float, float]] | None) -> str:
    chart = base64.b64encode(timeline_png(score, outages)).decode("ascii")
    findings = "".join(f"<li>{html.escape(f)}</li>" for f in score.findings) or "<li>none</li>"
    failures = "".join(f"<li>{html.escape(f)}</li>" for f in score.failures)
    verdicts = "".join(f"<li>{html.escape(line[2:])}</li>" for line in _verdict_lines(score))
    return (
        f'<section id="{html.escape(score.mode)}">'
        f"<h2>{html.escape(score.mode)}: {html.escape(score.status)}</h2>"
        f'<img alt="timeline of {html.escape(score.mode)}" src="data:image/png;base64,{chart}">'
        f"<p>Detected by: {html.escape(score.detection_signal or 'nothing')}<br>"
        f"Fix: {html.escape(score.fix or 'none')}<br>"
        f"Error budget: {html.escape(budget_line(score.error_budget.as_dict()))}</p>"
        f"<h3>Triage verdicts</h3><ul>{verdicts}</ul>"
        f"<h3>Findings</h3><ul>{findings}</ul>"
        + (f'<h3>Failures</h3><ul class="failed">{failures}</ul>' if failures else "")
        + f'<p><a href="{html.escape(score.mode)}-postmortem.md">post-incident record</a></p></section>'
    )


def _coverage_section(report: RunbookCoverage | None, problem: str | None) -> str:
    if report is None:
        return f"<h2>Runbook coverage</h2><p class='failed'>{html.escape(problem or '')}</p>"
    gaps = "".join(
        f"<tr><td>{i.line}</td><td>{html.escape(i.step)}</td><td><code>{html.escape(i.text)}</code></td>"
        f"<td>{html.escape(i.status)}: {html.escape('; '.join(i.proofs) or 'nothing maps to it')}</td></tr>"
        for i in report.items
        if not i.covered
    )
    drift = "".join(f"<li>{html.escape(line)}</li>" for line in report.stale)
    return (
        f'<section id="runbook-coverage"><h2>Runbook coverage</h2><p>{html.escape(report.summary())} · '
        f'<a href="runbook-coverage.json">runbook-coverage.json</a> · '
        "<code>offgridflow-runbook coverage</code> prints every step</p>"
        + (
            f"<table><tr><th>line</th><th>step</th><th>not proved</th><th>why</th></tr>{gaps}</table>"
            if gaps
            else ""
        )
        + (f'<ul class="failed">{drift}</ul>' if drift else "")
        + "</section>"
    )


_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px}.passed{color:#1b5e20;font-weight:bold}"
    ".failed{color:#b71c1c;font-weight:bold}img{max-width:100%}"
)


def write_reports(
    scorecard: Scorecard,
    directory: Path,
    outages: dict[str, list[tuple[float, float]]] | None = None,
    coverage: Callable[[], RunbookCoverage] | None = None,
) -> dict[str, Path]:
    """Write scorecard.json, index.html and the post-incident records into ``directory``; with
    ``coverage`` (``offgridflow_runbook.coverage.runbook_coverage``), runbook-coverage.json too."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {"scorecard": scorecard.write_json(directory / "scorecard.json")}
    for score in scorecard.experiments:
        path = directory / f"{score.mode}-postmortem.md"
        path.write_text(postmortem_markdown(score, scorecard), encoding="utf-8")
        written[f"{score.mode}-postmortem"] = path
    proved: RunbookCoverage | None = None
    problem = "not measured: the game day was given no coverage"
    if coverage is not None:
        try:
            proved, problem = coverage(), ""
        except RunbookError as error:  # the game day's results stand; the report says why coverage is missing
            problem = str(error)
        written["runbook-coverage"] = directory / "runbook-coverage.json"
        written["runbook-coverage"].write_text(
            json.dumps(proved.as_dict() if proved else {"error": problem}, indent=2) + "\n", encoding="utf-8"
        )
    header = "".join(
        f"<th>{h}</th>"
        for h in (
            "mode",
            "status",
            "MTTD (page)",
            "paged by",
            "suite detection",
            "MTTR",
            "outage",
            "SLA met",
            "error budget burned",
            "diagnosis",
            "alerts fired",
            "acked / lost",
        )
    )
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Game day scorecard</title>"
        f"<style>{_STYLE}</style></head><body><h1>OffGridFlow game day</h1>"
        f"<p>target {html.escape(scorecard.target)} · platform {html.escape(scorecard.platform)} · "
        f"alert profile {html.escape(scorecard.profile)} · started {iso(scorecard.started_at)} · "
        f'<a href="scorecard.json">scorecard.json</a></p>'
        f"<table><tr>{header}</tr>{''.join(_row(s) for s in scorecard.experiments)}</table>"
        + "".join(_section(s, (outages or {}).get(s.mode)) for s in scorecard.experiments)
        + _coverage_section(proved, problem)
        + "</body></html>\n"
    )
    index = directory / "index.html"
    index.write_text(body, encoding="utf-8")
    written["index"] = index
    return written
