"""Every verdict triage gave from the fault to the fix, in the scorecard, the records and the timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from offgridflow_runbook.gameday.events import EventLog, GamedayEvent
from offgridflow_runbook.gameday.findings import FindingId
from offgridflow_runbook.gameday.report import write_reports
from offgridflow_runbook.gameday.scorecard import Expectation, Scorecard, score_experiment
from offgridflow_runbook.gameday.verdicts import VerdictRecorder, triage_verdicts
from offgridflow_runbook.runbook.triage import Cause, Diagnosis, Outcome

T0 = 1_800_000_000.0
EXPECT = Expectation(mode="oom", fix="Fix 2", fault="memory assault")


def event(kind: str, offset: float, **detail: Any) -> GamedayEvent:
    return GamedayEvent(kind, T0 + offset, "oom", detail)


def verdict(offset: float, section: str, outcome: str = "diagnosed") -> GamedayEvent:
    return event("verdict", offset, outcome=outcome, section=section, sections=[section], summary=section)


RUN = [
    verdict(-5, "none", "healthy"),  # before the fault: not this experiment's
    event("fault_at", 0, fault="memory assault"),
    verdict(0.5, "none", "healthy"),
    verdict(2.5, "Triage 1", "unreachable"),
    verdict(4.5, "Quick Fix"),
    verdict(6.5, "Fix 2"),
    verdict(7.0, "Fix 2"),  # the probe sees what the watch saw: one verdict
    event("diagnosis", 7.0, cause="oom", section="Fix 2"),
    event("fix_started_at", 9, fix="Fix 2"),
    verdict(10, "Fix 2"),  # after the fix: not counted
]


def test_the_first_verdict_the_time_to_the_right_one_and_the_wrong_ones_are_kept() -> None:
    verdicts = triage_verdicts(RUN, fault_at=T0, fix_at=T0 + 9, expected="Fix 2")
    assert [v["section"] for v in verdicts.verdicts] == ["none", "Triage 1", "Quick Fix", "Fix 2"]
    assert (verdicts.first_s, verdicts.first_section, verdicts.right_s) == (0.5, "none", 6.5)
    # healthy right after the fault is the failure not showing yet; the others would mislead on-call
    assert verdicts.wrong == ["Triage 1 (unreachable)", "Quick Fix (diagnosed)"]


def test_a_triage_that_never_names_the_fix_is_a_finding_not_hidden() -> None:
    run = [event("fault_at", 0), verdict(1, "Quick Fix"), event("fix_started_at", 9, fix="Fix 2")]
    verdicts = triage_verdicts(run, fault_at=T0, fix_at=T0 + 9, expected="Fix 2")
    assert verdicts.right_s is None
    assert (
        FindingId.TRIAGE_NEVER_RIGHT,
        "triage never named Fix 2 first between the fault and the fix",
    ) in verdicts.findings("Fix 2")


def test_an_inconclusive_verdict_is_neither_right_nor_wrong() -> None:
    run = [event("fault_at", 0), verdict(1, "Triage 1", "inconclusive"), verdict(3, "Fix 2")]
    verdicts = triage_verdicts(run, fault_at=T0, fix_at=None, expected="Fix 2")
    assert (verdicts.wrong, verdicts.right_s) == ([], 3.0)


def test_the_scorecard_the_postmortem_and_the_index_show_the_verdicts(tmp_path: Path) -> None:
    score = score_experiment(EXPECT, RUN, journal=None, alerts=[])
    triage = score.as_dict()["triage"]
    assert (triage["first_verdict_s"], triage["right_verdict_s"]) == (0.5, 6.5)
    assert triage["wrong_verdicts"] == ["Triage 1 (unreachable)", "Quick Fix (diagnosed)"]
    assert any("triage said Triage 1 (unreachable), Quick Fix (diagnosed) before naming Fix 2" in f
               for f in score.findings)  # fmt: skip
    card = Scorecard(target="local", platform="docker", profile="fast", started_at=T0, experiments=[score])
    written = write_reports(card, tmp_path)
    postmortem = written["oom-postmortem"].read_text()
    assert "- +4.5 s: Quick Fix (diagnosed): Quick Fix" in postmortem
    assert "the right one after 6.5 s" in postmortem
    assert "+6.5 s: Fix 2 (diagnosed) - right" in written["index"].read_text()


def test_the_recorder_writes_a_verdict_only_when_it_changes(tmp_path: Path) -> None:
    log = EventLog(tmp_path, "oom")
    recorder = VerdictRecorder(log, "watch")
    healthy = Diagnosis(Cause.HEALTHY, "none", "healthy", outcome=Outcome.HEALTHY)
    oom = Diagnosis(Cause.OOM, "Fix 2", "OOM kill")
    for diagnosis in (healthy, healthy, oom, oom, healthy):
        recorder.record(diagnosis)
    assert [e.detail["section"] for e in log.read() if e.kind == "verdict"] == ["none", "Fix 2", "none"]
