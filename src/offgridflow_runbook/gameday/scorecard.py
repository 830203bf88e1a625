"""The game day's scorecard: per experiment, when the fault started, when it was detected, what
triage said, when the fix started, when service came back and Verification passed, the alerts, and
whether the runbook's time budgets and the SLA held.

Definitions (seconds, from the event log; see :mod:`offgridflow_runbook.gameday.events`):

- ``mttd_s`` = the first page - fault: the first firing runbook alert this fault caused that
  Alertmanager delivered to the receiver (``page``: which alert, which receiver, the floor
  scrape + evaluation + ``for`` and the lag over it); ``suite_mttd_s`` = the suite's own detection
  (its 0.5 s polling) - fault, reported beside it, never instead of it
- an alert already pending or firing before the fault is listed in ``pre_fault_alerts`` and is
  neither detection nor "must fire"
- ``mttr_s`` = service recovered - fault
- ``outage_s`` = how long a synthetic user saw failures (when the game day probed availability),
  else fault -> recovered; ``sla_met`` = outage under 5 minutes
- ``error_budget``: what the experiment burned of the error budget, fault -> Verification 1-5 passing
  (or the end of the run when it never passed), against Verification 5's "Error rate < 1%", from the
  target's Prometheus (:mod:`offgridflow_runbook.gameday.error_budget`; "unknown" when it cannot tell)
- budgets (the runbook's, read from it): confirm (fault -> detection) = Triage 1's "(2 minutes)",
  identify (detection -> diagnosis) = Triage 2's "(5 minutes)", fix (fix start -> recovered) = the
  Quick Fix's "(Immediate - 2 minutes)", verify (recovered -> Verification 1-5) = Verification's
  "(3 minutes)"; the SLA is its "SLA breach after 5 minutes"
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offgridflow_runbook.files import replace_user_text
from offgridflow_runbook.gameday.alerts import AlertTimeline, AlertTiming
from offgridflow_runbook.gameday.error_budget import NOT_MEASURED, ErrorBudget
from offgridflow_runbook.gameday.events import EventKind, GamedayEvent, first_event, rounded
from offgridflow_runbook.gameday.findings import Finding, FindingId
from offgridflow_runbook.gameday.modes import Expectation, expectation_from_experiment
from offgridflow_runbook.gameday.pages import PageDeliveries, first_page
from offgridflow_runbook.gameday.verdicts import TriageVerdicts, triage_verdicts
from offgridflow_runbook.probes.prometheus import RUNBOOK_ALERTS
from offgridflow_runbook.runbook import load_runbook
from offgridflow_runbook.runbook.steps import Outcome

__all__ = [
    "BUDGET_HEADINGS",
    "Expectation",
    "ExperimentScore",
    "Scorecard",
    "budgets_s",
    "expectation_from_experiment",
    "score_experiment",
    "sla_s",
]

# scorecard budget -> the runbook heading whose "(N minutes)" sets it
BUDGET_HEADINGS = {
    "confirm": "Triage 1",
    "identify": "Triage 2",
    "fix": "Quick Fix",
    "verify": "Verification",
}


def sla_s() -> float:
    """The runbook's SLA ("SLA breach after 5 minutes"), read when first asked (never at import)."""
    return load_runbook().sla_s


def budgets_s() -> dict[str, float]:
    """The scorecard's budgets, from the runbook's headings (:data:`BUDGET_HEADINGS`)."""
    runbook = load_runbook()
    return {name: runbook.budget(heading) for name, heading in BUDGET_HEADINGS.items()}


# Verification 5 lagging this long behind the service coming back is worth telling the runbook's owners.
_LAG_FINDING_S = 10.0
_STEP_SLACK_S = 2.0


def iso(at: float | None) -> str | None:
    return datetime.fromtimestamp(at, UTC).isoformat() if at is not None else None


@dataclass
class ExperimentScore:
    mode: str
    status: Outcome  # passed, or failed (never skipped)
    fault: str
    fault_at: float | None
    detected_at: float | None
    detection_signal: str | None
    detection_lag_s: float | None  # detection - when the platform says the failure showed
    alerts: list[AlertTimeline]
    alert_lag_s: dict[str, float]  # firing - (fault + Prometheus' floor), per must-fire alert
    page: dict[str, Any] | None  # the first page this fault caused (see the module's definitions)
    pages_unknown: str | None  # why the receiver's deliveries could not be read
    pre_fault_alerts: list[dict[str, Any]]  # alerts pending/firing before the fault: not counted
    suite_mttd_s: float | None
    diagnosis: dict[str, str]
    fix: str | None
    fix_started_at: float | None
    recovered_at: float | None
    verified_at: float | None
    mttd_s: float | None
    mttr_s: float | None
    outage_s: float | None
    sla_met: bool
    budgets: dict[str, dict[str, Any]]
    acked_writes: int | None
    lost_writes: int | None
    findings: list[str]
    failures: list[str]
    chaos_status: str | None = None
    duration_s: float | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)
    triage: TriageVerdicts = field(default_factory=TriageVerdicts)
    self_healed_at: float | None = None  # the fault went away with no fix (a controller replaced it)
    # what answered when the chaos guard first let the run change the target (the event log's
    # first ``identity``: target, fingerprint of the resolved target, the identity seen)
    identity: dict[str, Any] | None = None
    # every finding as a typed record (``findings`` holds their evidence, as the JSON shows it), and
    # the paging failures that are findings about the runbook too: what the proposals read
    records: list[Finding] = field(default_factory=list)
    error_budget: ErrorBudget = NOT_MEASURED  # set once Prometheus was asked (the session does)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "status": self.status,
            "fault": self.fault,
            "fault_at": iso(self.fault_at),
            "detected_at": iso(self.detected_at),
            "detection_signal": self.detection_signal,
            "detection_lag_s": rounded(self.detection_lag_s),
            "alerts": [
                {key: iso(value) if key.endswith("_at") else value for key, value in alert.as_dict().items()}
                for alert in self.alerts
            ],
            "alert_lag_s": {name: rounded(lag) for name, lag in self.alert_lag_s.items()},
            "page": self._page_dict(),
            "pages_unknown": self.pages_unknown,
            "pre_fault_alerts": [
                {key: iso(value) if key == "since" else value for key, value in alert.items()}
                for alert in self.pre_fault_alerts
            ],
            "suite_mttd_s": rounded(self.suite_mttd_s),
            "diagnosis": self.diagnosis,
            "triage": self.triage.as_dict(),
            "fix": self.fix,
            "self_healed_at": iso(self.self_healed_at),
            "fix_started_at": iso(self.fix_started_at),
            "recovered_at": iso(self.recovered_at),
            "verified_at": iso(self.verified_at),
            "mttd_s": rounded(self.mttd_s),
            "mttr_s": rounded(self.mttr_s),
            "outage_s": rounded(self.outage_s),
            "sla_met": self.sla_met,
            "error_budget": self.error_budget.as_dict(),
            "budgets": self.budgets,
            "acked_writes": self.acked_writes,
            "lost_writes": self.lost_writes,
            "findings": self.findings,
            "failures": self.failures,
            "chaos_status": self.chaos_status,
            "duration_s": rounded(self.duration_s),
            "identity": self.identity,
        }

    def _page_dict(self) -> dict[str, Any] | None:
        if self.page is None:
            return None
        return {
            key: iso(value) if key == "delivered_at" else rounded(value) if key.endswith("_s") else value
            for key, value in self.page.items()
        }


def _span(start: float | None, end: float | None) -> float | None:
    return end - start if start is not None and end is not None else None


def _began(alert: AlertTimeline) -> float | None:
    """When an alert's episode began: pending, or firing when it had no pending phase."""
    return alert.pending_at if alert.pending_at is not None else alert.firing_at


def _chaos_failures(journal: dict[str, Any] | None) -> list[str]:
    if journal is None:
        return ["no Chaos Toolkit journal (the experiment did not finish)"]
    failures = []
    if journal.get("status") != "completed":
        failures.append(f"Chaos Toolkit status {journal.get('status')!r}")
    runs = [*journal.get("run", []), *journal.get("rollbacks", [])]
    for run in runs:
        if run.get("status") != "succeeded":
            name = run.get("activity", {}).get("name", "?")
            failures.append(
                f"activity {name} {run.get('status')}: {str(run.get('exception', ''))[-300:].strip()}"
            )
    return failures


@dataclass(frozen=True)
class _Timeline:
    """The experiment's moments, from its event log: what happened when, after the fault."""

    fault: GamedayEvent | None
    detected: GamedayEvent | None
    diagnosis: GamedayEvent | None
    fix: GamedayEvent | None
    healed: GamedayEvent | None  # the fault went away with no fix, where the experiment allows it
    recovered: GamedayEvent | None
    verified: GamedayEvent | None

    @property
    def fault_at(self) -> float | None:
        return self.fault.at if self.fault else None

    @property
    def detected_at(self) -> float | None:
        return self.detected.at if self.detected else None

    @property
    def fix_at(self) -> float | None:
        return self.fix.at if self.fix else None

    @property
    def verified_at(self) -> float | None:
        return self.verified.at if self.verified else None

    @property
    def recovered_at(self) -> float | None:
        """Service back: the self-heal, else the recovery, else Verification passing."""
        moment = self.healed or self.recovered or self.verified
        return moment.at if moment else None

    @property
    def section(self) -> dict[str, str]:
        """What triage named: ``cause`` and ``section`` (empty when it named nothing)."""
        if self.diagnosis is None:
            return {}
        return {
            "cause": str(self.diagnosis.detail.get("cause", "")),
            "section": str(self.diagnosis.detail.get("section", "")),
        }


def _timeline(expectation: Expectation, events: list[GamedayEvent], failures: list[str]) -> _Timeline:
    """Read the moments from ``events`` (sorted); a self-heal the experiment forbids is a failure."""
    fault = first_event(events, EventKind.FAULT_AT)
    fault_at = fault.at if fault else None
    detected = first_event(events, EventKind.DETECTED_AT, after=fault_at) if fault_at else None
    fix = first_event(events, EventKind.FIX_STARTED_AT, after=fault_at) if fault_at else None
    # a fault that went away by itself (probes.database_heals_by_itself) needs no triage or fix;
    # recovery and Verification count from the moment it was back
    healed = (
        first_event(events, EventKind.SELF_HEALED_AT, after=fault_at) if fault_at and fix is None else None
    )
    if healed is not None and not expectation.may_heal_by_itself:
        failures.append("the fault healed by itself where the experiment says it must not")
        healed = None
    since = fix.at if fix is not None else (healed.at if healed else None)
    return _Timeline(
        fault=fault,
        detected=detected,
        diagnosis=first_event(events, EventKind.DIAGNOSIS, after=fault_at) if fault_at else None,
        fix=fix,
        healed=healed,
        recovered=first_event(events, EventKind.RECOVERED_AT, after=since) if since else None,
        verified=first_event(events, EventKind.VERIFIED_AT, after=since) if since else None,
    )


def _timeline_failures(expectation: Expectation, moments: _Timeline) -> list[str]:
    """The runbook's path not walked: no fault, no detection, the wrong section, no Verification."""
    failures = []
    if moments.fault_at is None:
        failures.append("the fault was never applied")
    if moments.detected is None:
        failures.append(f"the failure was not detected ({expectation.detection or 'no detection event'})")
    if moments.healed is None and moments.section.get("section") != expectation.fix:
        failures.append(f"triage named {moments.section.get('section') or 'nothing'}, not {expectation.fix}")
    if moments.verified is None:
        failures.append(
            f"Verification 1-5 did not pass after the {'fix' if moments.healed is None else 'self-heal'}"
        )
    return failures


@dataclass
class _Alerts:
    """The alert history split at the fault: what was there before it, what it caused."""

    pre_fault: list[dict[str, Any]]
    caused: list[AlertTimeline]
    findings: list[tuple[FindingId, str]]
    failures: list[tuple[FindingId | None, str]]

    @property
    def caused_names(self) -> set[str]:
        return {alert.name for alert in self.caused}


def _alerts(expectation: Expectation, alerts: list[AlertTimeline], fault_at: float | None) -> _Alerts:
    """Only what this fault caused counts: an alert already pending or firing before it (a rollout
    before the fault, an earlier experiment) is reported, not counted (the slack covers the step grid)."""
    before = fault_at - _STEP_SLACK_S if fault_at is not None else None
    earlier = [
        a for a in alerts if before is not None and (since := _began(a)) is not None and since < before
    ]
    caused = [
        a for a in alerts if before is not None and a.firing_at is not None and (_began(a) or 0.0) >= before
    ]
    part = _Alerts(
        pre_fault=[
            {"name": a.name, "since": _began(a), "state": "firing" if a.fired else "pending"} for a in earlier
        ],
        caused=caused,
        findings=[
            (
                FindingId.ALERT_BEFORE_FAULT,
                f"{a.name} was already {'firing' if a.fired else 'pending'} before the fault "
                f"(since {iso(_began(a))}); not counted as this fault's detection",
            )
            for a in earlier
        ],
        failures=[],
    )
    names = part.caused_names
    part.failures += [
        (FindingId.MUST_FIRE_SILENT, f"alert {name} must fire but stayed silent")
        for name in expectation.must_fire
        if name not in names
    ]
    part.failures += [
        (None, f"alert {name} must not fire but fired") for name in expectation.must_not_fire if name in names
    ]
    return part


def _page(
    expectation: Expectation,
    pages: PageDeliveries | None,
    timing: AlertTiming | None,
    fault_at: float | None,
    caused: set[str],
    failures: list[tuple[FindingId | None, str]],
) -> dict[str, Any] | None:
    """The first page this fault caused (its MTTD, the floor and the lag over it); a must-fire alert
    that fired but whose page never arrived, or pages that could not be read, are failures."""
    if pages is not None and pages.unknown is not None:
        failures.append((None, f"no page could be seen: {pages.unknown}"))
        return None
    if pages is None or fault_at is None:
        return None
    page: dict[str, Any] | None = None
    first = first_page(pages.pages, fault_at, RUNBOOK_ALERTS)
    if first is not None:
        floor = timing.floor_s(first.alert) if timing is not None else None
        mttd = first.delivered_at - fault_at
        page = {
            "alert": first.alert,
            "receiver": first.receiver,
            "delivered_at": first.delivered_at,
            "mttd_s": mttd,
            "floor_s": floor,
            "lag_s": mttd - floor if floor is not None else None,
        }
        if floor is not None and mttd < floor:
            # no pipeline beats its rule's `for`: the fault's time or the delivery's is wrong
            failures.append(
                (
                    None,
                    f"page {first.alert} scored {mttd:.2f} s after the fault, below its floor {floor:.1f} s",
                )
            )
    paged = {p.alert for p in pages.pages if first_page((p,), fault_at, (p.alert,)) is not None}
    failures += [
        (FindingId.PAGE_NOT_DELIVERED, f"alert {name} fired but its page never reached the receiver")
        for name in expectation.must_fire
        if name in caused and name not in paged
    ]
    return page


def _budgets(moments: _Timeline, findings: list[tuple[FindingId, str]]) -> dict[str, dict[str, Any]]:
    """The runbook's time budgets against what was measured; Verification lagging far behind the
    service coming back is a finding."""
    recovered_at = moments.recovered_at
    verify_s = _span(recovered_at, moments.verified_at)
    if verify_s is not None and verify_s > _LAG_FINDING_S and moments.verified is not None:
        lagging = ", ".join(moments.verified.detail.get("waited_on", [])) or "Verification 5"
        findings.append(
            (
                FindingId.VERIFICATION_LAGGED,
                f"Verification lagged {verify_s:.0f} s behind the service's recovery "
                f"(still failing: {lagging})",
            )
        )
    measured = {
        "confirm": _span(moments.fault_at, moments.detected_at),
        "identify": _span(moments.detected_at, moments.diagnosis.at if moments.diagnosis else None),
        "fix": _span(moments.fix_at, recovered_at) if moments.healed is None else 0.0,
        "verify": verify_s,
    }
    budget = budgets_s()
    return {
        name: {
            "budget_s": budget[name],
            "actual_s": rounded(actual),
            "met": actual is not None and actual <= budget[name],
        }
        for name, actual in measured.items()
    }


def _alert_lag(
    expectation: Expectation, caused: list[AlertTimeline], timing: AlertTiming | None, fault_at: float | None
) -> dict[str, float]:
    """Per must-fire alert the fault tripped: firing - (fault + Prometheus' floor)."""
    lag: dict[str, float] = {}
    if timing is None or fault_at is None:
        return lag
    for alert in caused:
        # only the alerts the fault itself trips: an error-rate alert waits for traffic, not the fault
        if alert.name in expectation.must_fire and alert.firing_at is not None:
            lag.setdefault(alert.name, alert.firing_at - (fault_at + timing.floor_s(alert.name)))
    return lag


def score_experiment(
    expectation: Expectation,
    events: list[GamedayEvent],
    *,
    journal: dict[str, Any] | None,
    alerts: list[AlertTimeline],
    timing: AlertTiming | None = None,
    outage_s: float | None = None,
    pages: PageDeliveries | None = None,
) -> ExperimentScore:
    """Compute one experiment's score from its event log, Chaos Toolkit journal, alert history and
    the pages the receiver got (None: not read at all, so there is no page MTTD): the timeline, the
    alerts, the page, the budgets, and the verdict (passed when nothing failed)."""
    events = sorted(events, key=lambda e: e.at)
    failures = _chaos_failures(journal)
    # what the chaos activities recorded, then what the scorer judges: (id, evidence) in that order
    findings = [
        (FindingId.read(e.detail.get("id")), str(e.detail.get("text", "")))
        for e in events
        if e.kind == EventKind.FINDING
    ]

    moments = _timeline(expectation, events, failures)
    fault_at, detected = moments.fault_at, moments.detected
    failures += _timeline_failures(expectation, moments)
    verdicts = triage_verdicts(events, fault_at=fault_at, fix_at=moments.fix_at, expected=expectation.fix)
    findings += verdicts.findings(expectation.fix)

    fired = _alerts(expectation, alerts, fault_at)
    findings += fired.findings
    flagged = list(fired.failures)
    page = _page(expectation, pages, timing, fault_at, fired.caused_names, flagged)
    failures += [text for _, text in flagged]
    findings += [
        (FindingId.ALERT_SILENT, f"{name} stayed silent during '{expectation.fault or expectation.mode}'")
        for name in expectation.silent_is_finding
        if name not in expectation.must_fire and name not in fired.caused_names
    ]

    written = first_event(events, EventKind.LOST_WRITES)
    acked = int(written.detail.get("acked", 0)) if written else None
    lost = len(written.detail.get("lost", [])) if written else None
    if lost:
        failures.append(f"{lost} of {acked} acknowledged writes were lost")

    mttr = _span(fault_at, moments.recovered_at)
    outage = outage_s if outage_s is not None else mttr
    budgets = _budgets(moments, findings)
    fault, fix = moments.fault, moments.fix
    started, ended = (events[0].at, events[-1].at) if events else (None, None)
    return ExperimentScore(
        mode=expectation.mode,
        status=Outcome.FAILED if failures else Outcome.PASSED,
        fault=str(fault.detail.get("fault", expectation.fault)) if fault else expectation.fault,
        fault_at=fault_at,
        detected_at=moments.detected_at,
        detection_signal=str(detected.detail.get("signal")) if detected else None,
        detection_lag_s=(
            detected.at - float(detected.detail["shown_at"])
            if detected is not None and detected.detail.get("shown_at") is not None
            else None
        ),
        alerts=alerts,
        alert_lag_s=_alert_lag(expectation, fired.caused, timing, fault_at),
        page=page,
        pages_unknown=pages.unknown if pages is not None else None,
        pre_fault_alerts=fired.pre_fault,
        suite_mttd_s=_span(fault_at, moments.detected_at),
        diagnosis=moments.section,
        fix=str(fix.detail.get("fix")) if fix else None,
        fix_started_at=moments.fix_at,
        recovered_at=moments.recovered_at,
        verified_at=moments.verified_at,
        mttd_s=page["mttd_s"] if page else None,
        mttr_s=mttr,
        outage_s=outage,
        sla_met=outage is not None and outage < sla_s(),
        budgets=budgets,
        acked_writes=acked,
        lost_writes=lost,
        findings=list(dict.fromkeys(text for _, text in findings)),
        failures=failures,
        chaos_status=journal.get("status") if journal else None,
        duration_s=_span(started, ended),
        self_healed_at=moments.healed.at if moments.healed else None,
        phases=[
            {"at": e.at, "phase": e.detail.get("phase"), "message": e.detail.get("message")}
            for e in events
            if e.kind == EventKind.PHASE
        ],
        triage=verdicts,
        identity=next((e.detail for e in events if e.kind == EventKind.IDENTITY), None),
        records=[
            Finding(kind, expectation.mode, text)
            for kind, text in dict.fromkeys([*findings, *((k, t) for k, t in flagged if k is not None)])
        ],
    )


@dataclass
class Scorecard:
    target: str
    platform: str
    profile: str
    started_at: float
    experiments: list[ExperimentScore] = field(default_factory=list)
    finished_at: float | None = None

    @property
    def passed(self) -> bool:
        return bool(self.experiments) and all(e.status == Outcome.PASSED for e in self.experiments)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "platform": self.platform,
            "profile": self.profile,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "duration_s": rounded(_span(self.started_at, self.finished_at)),
            "experiments": [experiment.as_dict() for experiment in self.experiments],
        }

    def write_json(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        # whole or not at all: a scheduler reads the verdict, and a run stopped mid-write keeps the last
        replace_user_text(path, json.dumps(self.as_dict(), indent=2) + "\n")
        return path
