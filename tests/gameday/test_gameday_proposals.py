"""Runbook change proposals: each earned by evidence in the scorecard, the edits a diff that applies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from offgridflow_runbook.gameday.alerts import AlertTimeline
from offgridflow_runbook.gameday.findings import Finding, FindingId
from offgridflow_runbook.gameday.proposals import propose, runbook_diff, write_proposals
from offgridflow_runbook.gameday.scorecard import ExperimentScore, Scorecard
from offgridflow_runbook.runbook.location import default_runbook

T0 = 1_800_000_000.0
RUNBOOK_FILE = default_runbook()
RUNBOOK = RUNBOOK_FILE.read_text(encoding="utf-8")


def score(mode: str, *, found: tuple[tuple[FindingId, str], ...] = (), **changes: object) -> ExperimentScore:
    """A passed experiment; ``found``: its findings as (id, evidence), as the scorer records them."""
    base: dict[str, object] = {
        "mode": mode,
        "status": "passed",
        "fault": "f",
        "fault_at": T0,
        "detected_at": T0 + 1,
        "detection_signal": "s",
        "detection_lag_s": None,
        "alerts": [],
        "alert_lag_s": {},
        "page": None,
        "pages_unknown": None,
        "pre_fault_alerts": [],
        "suite_mttd_s": 1.0,
        "diagnosis": {},
        "fix": "fix",
        "fix_started_at": T0 + 10,
        "recovered_at": T0 + 20,
        "verified_at": T0 + 25,
        "mttd_s": None,
        "mttr_s": 20.0,
        "outage_s": 20.0,
        "sla_met": True,
        "budgets": {"verify": {"budget_s": 180.0, "actual_s": 5.0, "met": True}},
        "acked_writes": None,
        "lost_writes": None,
        "findings": [],
        "failures": [],
    }
    records = [Finding(kind, mode, text) for kind, text in found]
    findings = [text for _, text in found]
    return ExperimentScore(**(base | {"findings": findings, "records": records} | changes))  # type: ignore[arg-type]


def card(*experiments: ExperimentScore) -> Scorecard:
    return Scorecard("local", "docker", "fast", T0, list(experiments))


OOM_PAGE = {
    "alert": "OffGridFlowAPIOOMKilled",
    "receiver": "primary-oncall",
    "delivered_at": T0 + 3,
    "mttd_s": 3.0,
    "floor_s": 2.0,
    "lag_s": 1.0,
}


def test_a_healthy_game_day_proposes_nothing_and_no_diff() -> None:
    proposals = propose(card(score("db-kill")), RUNBOOK)
    assert proposals == []
    assert runbook_diff(RUNBOOK, proposals) == ""


def test_a_page_from_an_alert_the_runbook_does_not_name_proposes_it_with_its_evidence() -> None:
    oom = score(
        "oom",
        page=OOM_PAGE,
        found=((FindingId.ALERT_SILENT, "OffGridFlowAPIDown stayed silent during 'memory assault'"),),
    )
    (proposal,) = propose(card(oom), RUNBOOK)
    assert proposal.title == "Name `OffGridFlowAPIOOMKilled` in Related Alerts"
    assert (
        "oom: paged by OffGridFlowAPIOOMKilled to primary-oncall 3.0 s after the fault"
        in proposal.evidence[0]
    )
    assert "oom: OffGridFlowAPIDown stayed silent during 'memory assault'" in proposal.evidence
    diff = runbook_diff(RUNBOOK, [proposal])
    assert "+- `OffGridFlowAPIOOMKilled` - paged for Fix 2: OOM (Out of Memory) Issues" in diff


def test_a_page_from_an_alert_the_runbook_names_proposes_nothing() -> None:
    page = OOM_PAGE | {"alert": "PostgreSQLDown"}
    assert propose(card(score("db-kill", page=page)), RUNBOOK) == []


def test_the_fix_3_configmap_finding_proposes_reading_the_configmap_the_deployment_uses() -> None:
    finding = (
        "Fix 3's `kubectl get configmap offgridflow-config` answers NotFound: "
        "the Deployment reads offgridflow-config-5f7c9"
    )
    (proposal,) = propose(
        card(score("bad-config", found=((FindingId.FIX_3_CONFIGMAP_GENERATED, finding),))), RUNBOOK
    )
    assert proposal.evidence == (f"bad-config: {finding}",)
    diff = runbook_diff(RUNBOOK, [proposal])
    assert "-kubectl get configmap offgridflow-config -n offgridflow -o yaml" in diff
    assert "configMapRef.name" in diff


def test_a_crash_loop_alert_resolving_after_recovery_is_documented_with_its_delay() -> None:
    crash = AlertTimeline("PodCrashLooping", pending_at=T0 + 5, firing_at=T0 + 8, resolved_at=T0 + 82)
    (proposal,) = propose(card(score("bad-config", alerts=[crash])), RUNBOOK)
    assert proposal.evidence == ("bad-config: PodCrashLooping resolved 62 s after the service recovered",)


def test_budget_overruns_and_silent_pages_are_proposed_as_decisions_without_an_edit() -> None:
    slow = score(
        "bad-image",
        budgets={"verify": {"budget_s": 180.0, "actual_s": 200.0, "met": False}},
        found=(
            (FindingId.MUST_FIRE_SILENT, "alert OffGridFlowAPIImagePullFailing must fire but stayed silent"),
        ),
    )
    proposals = propose(card(slow), RUNBOOK)
    assert [p.title for p in proposals] == ["A failure mode did not page", "The verify budget was overrun"]
    assert all(p.edit is None for p in proposals)
    assert proposals[1].evidence == ("bad-image: 200 s against 180 s",)


def test_the_written_diff_applies_to_the_runbook(tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not on PATH; it checks that the diff applies")
    crash = AlertTimeline("PodCrashLooping", pending_at=T0 + 5, firing_at=T0 + 8, resolved_at=T0 + 82)
    finding = "Fix 3's `kubectl get configmap offgridflow-config` answers NotFound"
    written = write_proposals(
        card(
            score("oom", page=OOM_PAGE),
            score("bad-config", alerts=[crash], found=((FindingId.FIX_3_CONFIGMAP_GENERATED, finding),)),
            score("network", found=(NO_FIX_FOR_2D,)),
        ),
        tmp_path,
    )
    proposals = written["proposals"].read_text()
    assert proposals.count("\n## ") == 4
    assert "## 2. Fix 5: Network/Ingress Issues" in proposals
    checkout = tmp_path / "checkout"
    (checkout / "docs" / "runbooks").mkdir(parents=True)
    shutil.copy(RUNBOOK_FILE, checkout / "docs" / "runbooks" / RUNBOOK_FILE.name)
    result = subprocess.run(
        [git, "apply", "--check", str(written["proposals-diff"])],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_fix_1_meeting_a_crash_looping_database_proposes_deleting_the_pod_first() -> None:
    finding = (
        "Fix 1 met postgres-0 in CrashLoopBackOff: `kubectl rollout restart statefulset/postgres` and the "
        "wait took 71 s"
    )
    proposals = propose(
        card(score("db-crash-loop", found=((FindingId.FIX_1_DATABASE_CRASH_LOOPING, finding),))), RUNBOOK
    )
    fix_1 = [p for p in proposals if p.title.startswith("Fix 1:")]
    assert len(fix_1) == 1
    assert fix_1[0].evidence == (f"db-crash-loop: {finding}",)
    assert fix_1[0].edit is not None
    edited = fix_1[0].edit(RUNBOOK)
    assert "kubectl delete pod -n offgridflow -l app=postgres" in edited
    assert edited.index("kubectl delete pod") < edited.index("kubectl rollout restart statefulset/postgres")


def test_fix_1_on_a_healthy_restart_proposes_nothing() -> None:
    proposals = propose(
        card(
            score(
                "db-kill", found=((FindingId.UNCLASSIFIED, "the database came back by itself 4.2 s after"),)
            )
        ),
        RUNBOOK,
    )
    assert not [p for p in proposals if p.title.startswith("Fix 1:")]


def test_the_proposals_are_made_against_the_runbook_the_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    finding = (
        "Fix 3's `kubectl get configmap offgridflow-config` answers NotFound: "
        "the Deployment reads offgridflow-config-5f7c9"
    )
    scorecard = card(score("bad-config", found=((FindingId.FIX_3_CONFIGMAP_GENERATED, finding),)))
    ours = tmp_path / "our-runbook.md"
    ours.write_text(
        RUNBOOK.replace("# Check for recent changes", "# Check for recent changes (ours)"), encoding="utf-8"
    )
    monkeypatch.setenv("OFFGRIDFLOW_RUNBOOK", str(ours))
    diff = write_proposals(scorecard, tmp_path / "env")["proposals-diff"].read_text()
    assert "# Check for recent changes (ours)" in diff  # the diff's context is our runbook's text
    given = write_proposals(scorecard, tmp_path / "given", runbook_file=RUNBOOK_FILE)["proposals-diff"]
    assert "(ours)" not in given.read_text()


def test_proposals_follow_the_finding_ids_not_their_wording() -> None:
    """The same sentence earns a proposal under the id that earns one, and nothing under another."""
    sentence = "Fix 1 met postgres-0 in CrashLoopBackOff: the wait took 71 s"
    earning = propose(
        card(score("db-crash-loop", found=((FindingId.FIX_1_DATABASE_CRASH_LOOPING, sentence),))), RUNBOOK
    )
    assert [p.title for p in earning] == [
        "Fix 1: replace a crash-looping database pod instead of waiting for its back-off"
    ]
    assert propose(card(score("db-crash-loop", found=((FindingId.UNCLASSIFIED, sentence),))), RUNBOOK) == []
    reworded = propose(
        card(
            score(
                "bad-config", found=((FindingId.FIX_3_CONFIG_EDITED_IN_PLACE, "the edit stays after undo"),)
            )
        ),
        RUNBOOK,
    )
    assert [p.evidence for p in reworded] == [("bad-config: the edit stays after undo",)]


NO_FIX_FOR_2D = (FindingId.NO_FIX_FOR_2D, "the runbook has no fix for Triage 2D")


def test_the_network_mode_without_a_runbook_fix_proposes_fix_5_with_the_commands_and_the_time_measured() -> (
    None
):
    network = score("network", found=(NO_FIX_FOR_2D,), status="passed", mttr_s=31.5)
    [proposal] = propose(card(network), RUNBOOK)
    assert proposal.title == "Fix 5: Network/Ingress Issues"
    # measured by the game day (its score's fields), not read from the finding's sentence
    assert proposal.evidence == (
        "network on docker (passed): the Service's selector set back to the Deployment's pod labels; "
        "service back 10.0 s after the fix started; MTTR 31.5 s",
    )
    diff = runbook_diff(RUNBOOK, [proposal])
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert "### Fix 5: Network/Ingress Issues" in added
    assert (
        "kubectl get service offgridflow-api-service -n offgridflow -o jsonpath='{.spec.selector}'" in added
    )
    assert "  offgridflow-api -n offgridflow -o jsonpath='{.spec.selector.matchLabels}')}]\"" in added
    # the section goes after Fix 4 and before Verification
    edited = proposal.edit(RUNBOOK) if proposal.edit else RUNBOOK
    assert edited.index("### Fix 4") < edited.index("### Fix 5") < edited.index("## Verification")


def test_fix_5_is_earned_by_the_finding_id_and_not_proposed_twice() -> None:
    reworded = score("network", found=((FindingId.NO_FIX_FOR_2D, "anything at all"),))
    assert [p.title for p in propose(card(reworded), RUNBOOK)] == ["Fix 5: Network/Ingress Issues"]
    same_words = score("network", found=((FindingId.UNCLASSIFIED, "the runbook has no fix for Triage 2D"),))
    assert propose(card(same_words), RUNBOOK) == []
    [proposal] = propose(card(reworded), RUNBOOK)
    already = proposal.edit(RUNBOOK) if proposal.edit else RUNBOOK
    assert propose(card(reworded), already) == []  # a runbook that has its Fix 5 gets no second one
