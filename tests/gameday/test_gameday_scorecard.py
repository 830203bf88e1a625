"""Scorecard arithmetic, alert history parsing, outages and the written reports (no network)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from offgridflow_runbook.gameday.alerts import AlertTimeline, AlertTiming, timelines_from_series
from offgridflow_runbook.gameday.availability import outages
from offgridflow_runbook.gameday.error_budget import MEASURED, NO_TRAFFIC, ErrorBudget
from offgridflow_runbook.gameday.events import EventLog, GamedayEvent
from offgridflow_runbook.gameday.findings import Change, FindingId
from offgridflow_runbook.gameday.pages import Page, PageDeliveries, pages_from_deliveries
from offgridflow_runbook.gameday.report import write_reports
from offgridflow_runbook.gameday.scorecard import Expectation, Scorecard, score_experiment

T0 = 1_800_000_000.0
EXPECT = Expectation(
    mode="db-kill",
    fix="Fix 1",
    fault="database killed",
    must_fire=("PostgreSQLDown",),
    must_not_fire=("PodCrashLooping",),
    silent_is_finding=("OffGridFlowAPIDown",),
)
COMPLETED = {
    "status": "completed",
    "run": [{"status": "succeeded", "activity": {"name": "x"}}],
    "rollbacks": [],
}


def event(kind: str, offset: float, **detail: Any) -> GamedayEvent:
    return GamedayEvent(kind, T0 + offset, "db-kill", detail)


def run_events(*, section: str = "Fix 1", lost: list[int] | None = None) -> list[GamedayEvent]:
    return [
        event("phase", -1, phase="writes", message="started"),
        event("fault_at", 0, fault="database killed"),
        event("detected_at", 1.5, signal="/health/ready HTTP 503", shown_at=T0 + 0.5),
        event("diagnosis", 4, cause="database", section=section),
        event("fix_started_at", 6, fix="Fix 1: restart"),
        event("recovered_at", 12),
        event("verified_at", 40, waited_on=["Verification 5: error rate below 1% over 5 minutes"]),
        event("lost_writes", 41, acked=800, lost=lost or []),
    ]


def fired(name: str, at: float, resolved: float | None = None) -> AlertTimeline:
    return AlertTimeline(
        name, pending_at=T0 + at - 3, firing_at=T0 + at, resolved_at=resolved and T0 + resolved
    )


def paged(name: str, at: float, *, started: float | None = None, receiver: str = "primary-oncall") -> Page:
    return Page(name, receiver, T0 + at, T0 + (at - 1 if started is None else started))


def test_a_good_run_passes_with_its_figures() -> None:
    timing = AlertTiming(1.0, 1.0, {"PostgreSQLDown": 3.0})
    score = score_experiment(
        EXPECT,
        run_events(),
        journal=COMPLETED,
        alerts=[fired("PostgreSQLDown", 5.5, 20)],
        timing=timing,
        pages=PageDeliveries((paged("PostgreSQLDown", 6.5),)),
    )
    assert score.status == "passed", score.failures
    assert score.mttd_s == pytest.approx(6.5)
    assert score.page == {
        "alert": "PostgreSQLDown",
        "receiver": "primary-oncall",
        "delivered_at": T0 + 6.5,
        "mttd_s": pytest.approx(6.5),
        "floor_s": 3.0,  # the rule's `for`
        "lag_s": pytest.approx(3.5),
    }
    assert score.suite_mttd_s == pytest.approx(1.5)
    assert score.mttr_s == pytest.approx(12)
    assert score.outage_s == pytest.approx(12)
    assert score.detection_lag_s == pytest.approx(1.0)
    assert score.alert_lag_s == {"PostgreSQLDown": pytest.approx(2.5)}
    assert score.sla_met
    assert score.budgets["confirm"] == {"budget_s": 120.0, "actual_s": 1.5, "met": True}
    assert score.budgets["identify"]["actual_s"] == pytest.approx(2.5)
    assert score.budgets["fix"]["actual_s"] == pytest.approx(6)
    assert score.budgets["verify"]["actual_s"] == pytest.approx(28)
    assert (score.acked_writes, score.lost_writes) == (800, 0)
    assert score.diagnosis == {"cause": "database", "section": "Fix 1"}
    assert any("OffGridFlowAPIDown stayed silent" in f for f in score.findings)
    assert any("Verification lagged 28 s" in f for f in score.findings)


@pytest.mark.parametrize(
    ("events", "alerts", "journal", "failure"),
    [
        (
            run_events(section="Fix 3"),
            [fired("PostgreSQLDown", 5)],
            COMPLETED,
            "triage named Fix 3, not Fix 1",
        ),
        (run_events(), [], COMPLETED, "alert PostgreSQLDown must fire but stayed silent"),
        (
            run_events(),
            [fired("PostgreSQLDown", 5), fired("PodCrashLooping", 8)],
            COMPLETED,
            "alert PodCrashLooping must not fire but fired",
        ),
        (
            run_events(lost=[7, 9]),
            [fired("PostgreSQLDown", 5)],
            COMPLETED,
            "2 of 800 acknowledged writes were lost",
        ),
        (run_events(), [fired("PostgreSQLDown", 5)], None, "no Chaos Toolkit journal"),
        (
            run_events(),
            [fired("PostgreSQLDown", 5)],
            {
                "status": "completed",
                "run": [{"status": "failed", "activity": {"name": "probe-x"}, "exception": ["boom"]}],
            },
            "activity probe-x failed",
        ),
        (
            [e for e in run_events() if e.kind != "verified_at"],
            [fired("PostgreSQLDown", 5)],
            COMPLETED,
            "did not pass",
        ),
    ],
)
def test_a_broken_run_fails_and_says_why(
    events: list[GamedayEvent], alerts: list[AlertTimeline], journal: dict[str, Any] | None, failure: str
) -> None:
    score = score_experiment(EXPECT, events, journal=journal, alerts=alerts)
    assert score.status == "failed"
    assert any(failure in text for text in score.failures), score.failures


def test_outage_from_a_synthetic_client_wins_and_decides_the_sla() -> None:
    score = score_experiment(
        EXPECT, run_events(), journal=COMPLETED, alerts=[fired("PostgreSQLDown", 5)], outage_s=301.0
    )
    assert score.outage_s == 301.0
    assert score.sla_met is False


def test_alert_series_become_pending_firing_resolved() -> None:
    series = [
        {
            "metric": {"alertname": "PostgreSQLDown", "alertstate": "pending"},
            "values": [[T0 + 2, "1"], [T0 + 3, "1"]],
        },
        {
            "metric": {"alertname": "PostgreSQLDown", "alertstate": "firing"},
            "values": [[T0 + s, "1"] for s in range(4, 10)],
        },
        {"metric": {"alertname": "Unrelated", "alertstate": "firing"}, "values": [[T0 + 1, "1"]]},
    ]
    timelines = {
        t.name: t
        for t in timelines_from_series(
            series, names=("PostgreSQLDown", "OffGridFlowAPIDown"), step=1, end=T0 + 30
        )
    }
    assert timelines["PostgreSQLDown"] == AlertTimeline("PostgreSQLDown", T0 + 2, T0 + 4, T0 + 10)
    assert timelines["OffGridFlowAPIDown"] == AlertTimeline("OffGridFlowAPIDown")
    still_firing = timelines_from_series(series, names=("PostgreSQLDown",), step=1, end=T0 + 9.5)
    assert still_firing[0].resolved_at is None


@pytest.mark.parametrize(("delivered", "below"), [(2.9, True), (3.0, False)])
def test_a_page_faster_than_its_floor_is_a_failure_not_a_record(delivered: float, below: bool) -> None:
    """No pipeline beats its rule's ``for`` (3 s here): a page scored sooner means a timestamp is
    wrong, and the experiment fails with that; a page at the floor is a fast pipeline, not an error."""
    score = score_experiment(
        EXPECT,
        run_events(),
        journal=COMPLETED,
        alerts=[fired("PostgreSQLDown", min(delivered, 3.0), 20)],
        timing=AlertTiming(1.0, 1.0, {"PostgreSQLDown": 3.0}),
        pages=PageDeliveries((paged("PostgreSQLDown", delivered),)),
    )
    assert any("below its floor 3.0 s" in f for f in score.failures) is below


def test_alert_timing_floor_and_profile() -> None:
    fast = AlertTiming(1.0, 1.0, {"OffGridFlowAPIDown": 3.0})
    production = AlertTiming(15.0, 15.0, {"OffGridFlowAPIDown": 60.0})
    # the floor is the rule's `for` alone: a scrape and an evaluation can both fall right after the fault
    assert fast.floor_s("OffGridFlowAPIDown") == 3.0
    assert fast.ceiling_s("OffGridFlowAPIDown") == 5.0
    assert (fast.profile, production.profile) == ("fast", "production")


def test_outages_are_runs_of_failed_samples() -> None:
    points = [(0.0, True), (1.0, False), (1.5, False), (2.0, True), (3.0, False), (4.0, False)]
    found = [(o.started, o.ended) for o in outages(points)]
    assert found == [(1.0, 2.0), (3.0, 4.0)]
    assert outages([(0.0, True), (1.0, True)]) == []


def test_event_log_round_trip(tmp_path: Path) -> None:
    log = EventLog(tmp_path, "oom")
    log.record("fault_at", at=T0, fault="memory assault")
    log.record("detected_at", at=T0 + 1, signal="OOMKilled")
    with log.path.open("a") as handle:
        handle.write('{"kind": "half a li')  # a writer killed mid-line must not break the reader
    assert [e.kind for e in log.read()] == ["fault_at", "detected_at"]
    first = log.first("detected_at", after=T0)
    assert first is not None
    assert first.detail == {"signal": "OOMKilled"}
    with pytest.raises(ValueError, match="unknown event kind"):
        log.record("nonsense")


def test_reports_are_written_self_contained(tmp_path: Path) -> None:
    scorecard = Scorecard(target="local", platform="docker", profile="fast", started_at=T0 - 5)
    scorecard.experiments.append(
        score_experiment(
            EXPECT,
            run_events(),
            journal=COMPLETED,
            alerts=[fired("PostgreSQLDown", 5.5, 20)],
            pages=PageDeliveries((paged("PostgreSQLDown", 6.5),)),
        )
    )
    scorecard.finished_at = T0 + 60
    written = write_reports(scorecard, tmp_path, {"db-kill": [(T0 + 0.2, T0 + 11)]})
    document = json.loads(written["scorecard"].read_text())
    assert {"target", "platform", "profile", "started_at", "experiments"} <= set(document)
    entry = document["experiments"][0]
    for key in (
        "mode", "status", "fault_at", "detected_at", "detection_signal", "alerts", "diagnosis", "fix",
        "fix_started_at", "verified_at", "mttd_s", "mttr_s", "outage_s", "sla_met", "budgets",
        "acked_writes", "lost_writes", "findings", "page", "suite_mttd_s", "pre_fault_alerts",
    ):  # fmt: skip
        assert key in entry
    assert entry["alerts"][0]["firing_at"].startswith("2027-01-15T")
    page = written["index"].read_text()
    assert (
        len(
            re.findall(
                r'<img alt="timeline of db-kill" src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page
            )
        )
        == 1
    )
    assert "http://" not in page
    assert "https://" not in page
    postmortem = (tmp_path / "db-kill-postmortem.md").read_text()
    for heading in ("## Root cause", "## Time to detect, time to resolve, impact", "## Findings"):
        assert heading in postmortem
    assert (
        "time to detect (MTTD, fault -> first page delivered): 6.5 s; paged by PostgreSQLDown" in postmortem
    )
    assert "the suite's own detection (0.5 s polling, not a page): 1.5 s" in postmortem


def test_an_alert_still_firing_from_an_earlier_experiment_is_not_this_faults() -> None:
    lingering = AlertTimeline("PodCrashLooping", pending_at=None, firing_at=T0 - 60)
    score = score_experiment(
        EXPECT, run_events(), journal=COMPLETED, alerts=[fired("PostgreSQLDown", 5), lingering]
    )
    assert score.status == "passed", score.failures
    assert "PodCrashLooping" not in score.alert_lag_s
    assert score.pre_fault_alerts == [{"name": "PodCrashLooping", "since": T0 - 60, "state": "firing"}]


def test_an_alert_that_fired_before_the_fault_does_not_count_as_the_must_fire_alert() -> None:
    expect_api_down = Expectation(mode="oom", fix="Fix 2", must_fire=("OffGridFlowAPIDown",))
    before = AlertTimeline("OffGridFlowAPIDown", pending_at=T0 - 20, firing_at=T0 - 17, resolved_at=T0 + 3)
    score = score_experiment(expect_api_down, run_events(section="Fix 2"), journal=COMPLETED, alerts=[before])
    assert "alert OffGridFlowAPIDown must fire but stayed silent" in score.failures
    assert any("OffGridFlowAPIDown was already firing before the fault" in f for f in score.findings)


def test_an_alert_only_pending_during_the_rollout_before_the_fault_is_reported_apart() -> None:
    series = [
        {
            "metric": {"alertname": "OffGridFlowAPIDown", "alertstate": "pending"},
            "values": [[T0 - 10 + s, "1"] for s in range(3)] + [[T0 + 4 + s, "1"] for s in range(3)],
        },
        {
            "metric": {"alertname": "OffGridFlowAPIDown", "alertstate": "firing"},
            "values": [[T0 + 7 + s, "1"] for s in range(5)],
        },
    ]
    episodes = timelines_from_series(series, names=("OffGridFlowAPIDown",), step=1, end=T0 + 30)
    assert episodes == [
        AlertTimeline("OffGridFlowAPIDown", pending_at=T0 - 10, firing_at=None, resolved_at=T0 - 7),
        AlertTimeline("OffGridFlowAPIDown", pending_at=T0 + 4, firing_at=T0 + 7, resolved_at=T0 + 12),
    ]
    expect_api_down = Expectation(mode="bad-config", fix="Fix 1", must_fire=("OffGridFlowAPIDown",))
    score = score_experiment(expect_api_down, run_events(), journal=COMPLETED, alerts=episodes)
    assert score.status == "passed", score.failures
    assert score.pre_fault_alerts == [{"name": "OffGridFlowAPIDown", "since": T0 - 10, "state": "pending"}]


def test_mttd_is_the_first_page_the_fault_caused_not_a_repeat_of_an_older_alert() -> None:
    pages = PageDeliveries(
        (
            paged("PodCrashLooping", 2, started=-300),  # a repeat notification of an earlier alert
            paged("PostgreSQLDown", 6.5),
        )
    )
    score = score_experiment(
        EXPECT, run_events(), journal=COMPLETED, alerts=[fired("PostgreSQLDown", 5.5)], pages=pages
    )
    assert score.page is not None
    assert score.page["alert"] == "PostgreSQLDown"
    assert score.mttd_s == pytest.approx(6.5)


def test_a_must_fire_alert_whose_page_never_arrived_fails() -> None:
    score = score_experiment(
        EXPECT, run_events(), journal=COMPLETED, alerts=[fired("PostgreSQLDown", 5.5)], pages=PageDeliveries()
    )
    assert "alert PostgreSQLDown fired but its page never reached the receiver" in score.failures
    assert score.mttd_s is None


def test_unreadable_deliveries_are_no_page_seen_never_a_page() -> None:
    unknown = PageDeliveries(unknown="alert-receiver http://127.0.0.1:9095/deliveries: connection refused")
    score = score_experiment(
        EXPECT, run_events(), journal=COMPLETED, alerts=[fired("PostgreSQLDown", 5.5)], pages=unknown
    )
    assert score.status == "failed"
    assert any(f.startswith("no page could be seen: alert-receiver") for f in score.failures)
    assert score.mttd_s is None


def test_deliveries_become_pages_of_firing_alerts_only() -> None:
    deliveries = [
        {
            "received_at": T0 + 7,
            "payload": {
                "receiver": "platform-channel",
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"alertname": "OffGridFlowAPIImagePullFailing"},
                        "annotations": {"summary": "apply Fix 4"},
                        "startsAt": "2027-01-15T08:00:05.5Z",
                    },
                    {"status": "resolved", "labels": {"alertname": "PodCrashLooping"}},
                ],
            },
        }
    ]
    (page,) = pages_from_deliveries(deliveries)
    assert (page.alert, page.receiver, page.delivered_at, page.summary) == (
        "OffGridFlowAPIImagePullFailing",
        "platform-channel",
        T0 + 7,
        "apply Fix 4",
    )
    assert page.started_at == pytest.approx(T0 + 5.5)


def test_a_run_that_never_reached_its_fault_still_gets_a_chart(tmp_path: Path) -> None:
    phases_only = [event("phase", 0, phase="verify", message="steady state")]
    score = score_experiment(EXPECT, phases_only, journal=None, alerts=[])
    assert score.status == "failed"
    scorecard = Scorecard(
        target="local", platform="docker", profile="fast", started_at=T0, experiments=[score]
    )
    assert "data:image/png;base64," in write_reports(scorecard, tmp_path)["index"].read_text()


def test_the_game_day_report_shows_how_much_of_the_runbook_is_proved(tmp_path: Path) -> None:
    from offgridflow_runbook.coverage import runbook_coverage

    scorecard = Scorecard(target="local", platform="docker", profile="fast", started_at=T0)
    written = write_reports(scorecard, tmp_path, coverage=runbook_coverage)
    proved = runbook_coverage()
    assert json.loads(written["runbook-coverage"].read_text())["percent"] == round(proved.percent, 1)
    page = written["index"].read_text()
    assert proved.summary() in page
    # every gap is listed with its line and reason
    for gap in (item for item in proved.items if not item.covered):
        assert f"<td>{gap.line}</td>" in page
    assert "needs registry credentials for ghcr.io" in page


HEALING = Expectation(mode="db-kill", fix="Fix 1", fault="database killed", may_heal_by_itself=True)


def healed_events() -> list[GamedayEvent]:
    return [
        event("fault_at", 0, fault="database killed"),
        event("detected_at", 1.5, signal="/health/ready HTTP 503"),
        event("self_healed_at", 6.0, after_s=6.0),
        event("finding", 6.0, text="the database came back by itself 6.0 s after the fault"),
        event("recovered_at", 8.0),
        event("verified_at", 20.0, waited_on=[]),
    ]


def test_a_fault_the_platform_heals_before_on_call_passes_without_triage_or_fix() -> None:
    score = score_experiment(HEALING, healed_events(), journal=COMPLETED, alerts=[])
    assert score.status == "passed", score.failures
    assert (score.self_healed_at, score.fix_started_at, score.diagnosis) == (T0 + 6.0, None, {})
    assert score.mttr_s == pytest.approx(6.0)
    assert any("came back by itself" in finding for finding in score.findings)
    assert score.as_dict()["self_healed_at"] is not None


def test_healing_by_itself_fails_where_the_experiment_says_the_fault_must_stay() -> None:
    score = score_experiment(EXPECT, healed_events(), journal=COMPLETED, alerts=[])
    assert score.status == "failed"
    assert "the fault healed by itself where the experiment says it must not" in score.failures
    assert "triage named nothing, not Fix 1" in score.failures


def test_a_self_healed_run_still_needs_verification_to_pass() -> None:
    events = [e for e in healed_events() if e.kind not in ("recovered_at", "verified_at")]
    score = score_experiment(HEALING, events, journal=COMPLETED, alerts=[])
    assert "Verification 1-5 did not pass after the self-heal" in score.failures


def test_the_identity_seen_before_the_fault_is_in_the_experiments_entry() -> None:
    seen = {"platform": "docker", "docker_host": "unix:///var/run/docker.sock", "stack_labels": ["local"]}
    first = {"activity": "chaos_allowed", "target": "local", "fingerprint": "ab12", "seen": seen}
    events = [
        event("identity", -2, **first),
        *run_events(),
        event("identity", 6, **(first | {"activity": "fix_1_restart_database_then_api"})),
    ]
    score = score_experiment(EXPECT, events, journal=COMPLETED, alerts=[fired("PostgreSQLDown", 5)])
    assert score.identity == first
    assert score.as_dict()["identity"] == first
    assert score_experiment(EXPECT, run_events(), journal=COMPLETED, alerts=[]).as_dict()["identity"] is None


def test_a_game_day_given_no_coverage_says_so_and_writes_no_coverage_file(tmp_path: Path) -> None:
    scorecard = Scorecard(target="local", platform="docker", profile="fast", started_at=T0)
    written = write_reports(scorecard, tmp_path)
    assert "runbook-coverage" not in written
    assert not (tmp_path / "runbook-coverage.json").exists()
    assert "not measured: the game day was given no coverage" in written["index"].read_text()


def test_the_scorecard_reads_the_runbook_when_it_scores_not_when_it_is_imported(tmp_path: Path) -> None:
    missing = tmp_path / "no-runbook.md"
    program = (
        "import offgridflow_runbook.gameday.scorecard as s, offgridflow_runbook.gameday.report\n"
        "from offgridflow_runbook.runbook import RunbookError\n"
        "try:\n    s.sla_s()\nexcept RunbookError as e:\n    print('asked:', e)"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        env={**os.environ, "OFFGRIDFLOW_RUNBOOK": str(missing)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"asked: cannot read the runbook {missing}")


def test_every_finding_is_a_record_with_its_id_and_mode_and_the_json_keeps_the_sentences() -> None:
    expect = Expectation(
        mode="db-kill",
        fix="Fix 1",
        fault="database killed",
        must_fire=("PostgreSQLDown",),
        silent_is_finding=("OffGridFlowAPIDown",),
    )
    events = [
        *run_events(),
        event(
            "finding", 12, id="fix-1-database-crash-looping", text="Fix 1 met postgres-0 in CrashLoopBackOff"
        ),
        event("finding", 13, text="an older log's finding, without an id"),
    ]
    score = score_experiment(expect, events, journal=COMPLETED, alerts=[])
    by_id = {finding.id: finding for finding in score.records}
    assert (
        by_id[FindingId.FIX_1_DATABASE_CRASH_LOOPING].evidence == "Fix 1 met postgres-0 in CrashLoopBackOff"
    )
    assert (
        by_id[FindingId.FIX_1_DATABASE_CRASH_LOOPING].earns
        == Change.FIX_1_DELETE_A_CRASH_LOOPING_DATABASE_POD
    )
    assert by_id[FindingId.UNCLASSIFIED].earns is None
    assert (
        by_id[FindingId.ALERT_SILENT].evidence == "OffGridFlowAPIDown stayed silent during 'database killed'"
    )
    # the page that must come and did not: a failure, and a record that earns fixing the page
    assert by_id[FindingId.MUST_FIRE_SILENT].evidence in score.failures
    assert by_id[FindingId.MUST_FIRE_SILENT].earns == Change.FIX_THE_PAGE
    assert {f.mode for f in score.records} == {"db-kill"}
    document = score.as_dict()
    assert "records" not in document
    assert document["findings"] == [f.evidence for f in score.records if f.id != FindingId.MUST_FIRE_SILENT]


@pytest.mark.parametrize(
    ("budget", "cell", "line"),
    [
        (None, "unknown", "unknown (not measured)"),
        (
            ErrorBudget(MEASURED, 0.01, T0, T0 + 20, requests=400.0, failed=6.0),
            "150.0%",
            "150.0% burned: 6 of 400 requests failed (5xx) in the 20 s from the fault to Verification 1-5 "
            "passing",
        ),
        (
            ErrorBudget(NO_TRAFFIC, 0.01, T0, T0 + 20, 0.0, 0.0),
            "no traffic",
            "no traffic from the fault to Verification 1-5 passing",
        ),
    ],
    ids=["not-measured", "measured", "no-traffic"],
)
def test_the_error_budget_is_in_the_json_the_record_and_the_page(
    tmp_path: Path, budget: ErrorBudget | None, cell: str, line: str
) -> None:
    scorecard = Scorecard(target="local", platform="docker", profile="fast", started_at=T0 - 5)
    score = score_experiment(
        EXPECT, run_events(), journal=COMPLETED, alerts=[fired("PostgreSQLDown", 5.5, 20)]
    )
    if budget is not None:
        score.error_budget = budget
    scorecard.experiments.append(score)
    written = write_reports(scorecard, tmp_path)
    entry = json.loads(written["scorecard"].read_text())["experiments"][0]["error_budget"]
    if budget is None:  # never 0: not measured is unknown, with nothing burned stated
        assert (entry["status"], entry["burned"], entry["why"]) == ("unknown", None, "not measured")
    else:
        assert entry == budget.as_dict()
    assert f"- error budget: {line}" in (tmp_path / "db-kill-postmortem.md").read_text()
    page = written["index"].read_text()
    assert "<th>error budget burned</th>" in page
    assert f"<td>{cell}</td>" in page
    assert f"Error budget: {line}" in page
