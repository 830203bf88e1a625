"""The game day: the four failure modes of the runbook, each caused, detected, triaged, fixed by the
runbook's own fix and verified; then the safety properties (interrupted runs heal, a target that
forbids chaos is never touched)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from offgridflow_runbook.gameday.events import EventLog
from offgridflow_runbook.gameday.modes import Mode, load_modes
from offgridflow_runbook.gameday.runner import start_experiment
from offgridflow_runbook.gameday.session import GameDay
from offgridflow_runbook.ledger import Ledger
from offgridflow_runbook.platforms import platform_for
from offgridflow_runbook.runbook.verification import verify

pytestmark = pytest.mark.e2e

# Every failure mode of chaos/experiments (gameday.modes reads them, in the game day's order): the
# runbook's four and two Kubernetes variants, db-crash-loop (a killed database pod is replaced before
# anything pages, db-kill records that, so the outage that stays down is its own mode) and
# bad-config-in-place (offgridflow-config edited in place, where rollout undo is not Fix 3).
MODES = load_modes()


@pytest.mark.parametrize("failure_mode", MODES, ids=[m.name for m in MODES])
def test_failure_mode_is_detected_and_fixed_by_the_runbook(gameday: GameDay, failure_mode: Mode) -> None:
    mode = failure_mode.name
    if not failure_mode.runs_on(gameday.target.platform):
        pytest.skip(f"{mode} runs on {', '.join(failure_mode.platforms)} only")
    score = gameday.run(mode)
    if score.status != "passed":
        pytest.fail(f"{mode}: " + "; ".join(score.failures), pytrace=False)
    assert score.verified_at is not None
    if score.self_healed_at is not None:
        # the platform replaced what the fault broke before on-call had anything to do (a finding)
        assert score.fix_started_at is None
        assert score.verified_at > score.self_healed_at
    else:
        assert score.mttd_s is not None
        assert score.fix_started_at is not None
        assert score.verified_at > score.fix_started_at
    assert score.sla_met, f"{mode}: outage {score.outage_s} s is not under 5 minutes"


def test_interrupted_experiment_rolls_back_to_a_healthy_stack(gameday: GameDay, tmp_path: Path) -> None:
    """Ctrl-C while the bad configuration is live: the rollbacks (Fix 3) still run."""
    running = gameday.start("bad-config", gameday_dir=tmp_path)
    try:
        deadline = time.monotonic() + 120
        # interrupt once the bad configuration is live and being detected
        while running.events.first("detected_at") is None:
            if running.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the experiment never reached its fault (see {running.log_path})", pytrace=False)
            time.sleep(0.2)
        running.interrupt()
    finally:
        running.wait(240)
    journal = running.journal()
    assert journal is not None, f"no journal written (see {running.log_path})"
    assert journal["status"] == "interrupted"
    assert [run["activity"]["name"] for run in journal["rollbacks"]] == [
        "fix-3-if-still-broken",
        "verification-1-to-5-pass-after-rollback",
    ]
    assert running.events.first("fix_started_at") is not None, "the rollback did not apply Fix 3"
    report = verify(gameday.target)
    assert report.passed, report.summary()
    # the fault's ledger entry: cleared by the scorer now that the rollbacks and Verification passed
    gameday.settle_ledger(running)
    assert [e.id for e in Ledger().entries(gameday.target.name) if e.mode == "bad-config"] == []


def test_target_that_forbids_chaos_is_refused_and_left_unchanged(gameday: GameDay, tmp_path: Path) -> None:
    """The same stack under a profile with allow_chaos false: the experiment touches nothing."""
    readonly = "gameday-readonly"
    profile = {key: value for key, value in gameday.target.as_profile().items() if key != "allow_chaos"}
    targets_file = tmp_path / "targets.yaml"
    targets_file.write_text(json.dumps({"targets": {readonly: {**profile, "allow_chaos": False}}}))
    platform = platform_for(gameday.target)
    try:
        report = verify(gameday.target, platform)
        assert report.passed, f"precondition: the stack must be healthy before this test: {report.summary()}"
        before = (platform.rollout_history(), _restarts(platform), platform.config())
        running = start_experiment(
            gameday.experiments_dir / "db-kill.json",
            target=readonly,
            gameday_dir=tmp_path / "runs",
            targets_file=targets_file,
        )
        running.wait(120)
        after = (platform.rollout_history(), _restarts(platform), platform.config())
    finally:
        platform.close()
    journal = running.journal()
    assert journal is not None
    assert journal["steady_states"]["before"]["steady_state_met"] is False
    log = EventLog(tmp_path / "runs", "db-kill")
    assert [e.kind for e in log.read() if e.kind in ("fault_at", "fix_started_at")] == []
    output = (running.log_path.parent / "chaos-output.txt").read_text()
    assert "does not allow chaos" in output
    assert after == before


def _restarts(platform: object) -> dict[str, int]:
    workloads = [*platform.api_workloads(), *platform.database_workloads()]  # type: ignore[attr-defined]
    return {w.name: w.restart_count for w in workloads}
