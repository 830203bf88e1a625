"""The game day and the fault ledger: a target with an open entry is refused (or restored first with
``--restore-first``); the scorer clears a run's entries only once its rollbacks succeeded and its own
Verification passed; a new run keeps the previous run's event log aside."""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from offgridflow_runbook.gameday import session
from offgridflow_runbook.gameday.events import EventLog
from offgridflow_runbook.gameday.session import GameDay
from offgridflow_runbook.ledger import Ledger, Undo, UndoAction
from offgridflow_runbook.runbook.steps import Outcome, StepResult
from offgridflow_runbook.runbook.verification import VerificationReport
from offgridflow_runbook.targets import Target, load_target

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
UNDO = [Undo(UndoAction.SET_IMAGE, {"image": "127.0.0.1:5000/offgridflow-api:v1.3.0"})]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the scorer clears its own run's entries -----------------------------------------------------------
@dataclasses.dataclass
class FinishedRun:
    """What GameDay reads of a finished run: its mode, event log and journal."""

    events: EventLog
    document: dict[str, Any] | None
    mode: str = "bad-image"

    def journal(self) -> dict[str, Any] | None:
        return self.document


def report(passed: bool) -> VerificationReport:
    outcome = Outcome.PASSED if passed else Outcome.FAILED
    step = StepResult("Verification 5", "no alert firing", outcome, "" if passed else "firing")
    return VerificationReport("local", datetime.now(UTC), (step,), None)  # type: ignore[arg-type]


@pytest.fixture
def day(tmp_path: Path) -> GameDay:
    # no Prometheus: the game day would read the alert timing from the real local stack
    target = dataclasses.replace(load_target("local", ROOT / "targets.yaml"), prometheus_url=None)
    said: list[str] = []
    made = GameDay(target, experiments_dir=ROOT / "chaos/experiments", reports_dir=tmp_path, say=said.append)
    made.said = said  # type: ignore[attr-defined]
    return made


SUCCEEDED = {"status": "completed", "rollbacks": [{"status": "succeeded"}, {"status": "succeeded"}]}
FAILED_ROLLBACK = {"status": "interrupted", "rollbacks": [{"status": "failed"}, {"status": "succeeded"}]}


@pytest.mark.parametrize(
    ("journal", "passes", "cleared", "why"),
    [
        (SUCCEEDED, True, True, ""),
        (SUCCEEDED, False, False, "Verification 1-5 does not pass: Verification 5"),
        (FAILED_ROLLBACK, True, False, "a rollback did not succeed"),
        (None, True, False, "the run wrote no journal"),
    ],
    ids=["done-and-verified", "not-verified", "rollback-failed", "killed-no-journal"],
)
def test_the_scorer_clears_its_runs_entries_only_after_the_rollbacks_and_verification(
    day: GameDay,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    journal: dict[str, Any] | None,
    passes: bool,
    cleared: bool,
    why: str,
) -> None:
    looked: list[float] = []
    monkeypatch.setattr(
        session, "verify_within", lambda target, platform, deadline: looked.append(deadline) or report(passes)
    )
    events = EventLog(tmp_path / "runs", "bad-image")
    ledger = Ledger()
    ours = ledger.open(
        day.target, mode="bad-image", fault="image", undo=UNDO, events=str(events.path.resolve())
    )
    other = ledger.open(
        day.target, mode="bad-image", fault="older run", undo=UNDO, events="/elsewhere/events.jsonl"
    )
    day.settle_ledger(FinishedRun(events, journal))  # type: ignore[arg-type]
    assert ledger.entries() == ([other] if cleared else [ours, other])
    said = day.said  # type: ignore[attr-defined]
    if cleared:
        assert said == []
    else:
        assert any(f"left open ({why})" in line and ours.id in line for line in said)
    assert looked == ([session.CLEAR_VERIFY_DEADLINE_S] if journal is SUCCEEDED else [])


def test_a_new_run_keeps_the_previous_runs_event_log_aside(tmp_path: Path) -> None:
    log = EventLog(tmp_path, "bad-config")
    log.record(
        "fault_at", fault="config OFFGRIDFLOW_DB_POOL_MAX=lots", key="OFFGRIDFLOW_DB_POOL_MAX", previous="10"
    )
    log.reset()
    assert log.read() == []
    kept = [json.loads(line) for line in log.previous_path.read_text().splitlines()]
    assert kept[0]["detail"]["previous"] == "10"


# -- a game day on a target with an open entry -------------------------------------------------------
@pytest.fixture
def gameday_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Target:
    """A project with the game day's conftest, a test that needs its target, and a chaos target."""
    (pytester.path / "chaos").mkdir()
    shutil.copy(ROOT / "chaos/conftest.py", pytester.path / "chaos/conftest.py")
    (pytester.path / "chaos/test_day.py").write_text("def test_day(chaos_target):\n    pass\n")
    port = closed_port()
    profile = {
        "platform": "docker",
        "base_url": f"http://127.0.0.1:{port}",
        "allow_chaos": True,
        "allow_writes": True,
        "token_env": "GAMEDAY_LEDGER_TOKEN",
        # what the recording platform answers (restore checks it before any change)
        "identity": {"docker_host": "unix:///var/run/docker.sock", "stack_label": "local"},
    }
    targets = pytester.path / "targets.yaml"
    targets.write_text(json.dumps({"targets": {"lab": profile}}))
    monkeypatch.setenv("GAMEDAY_LEDGER_TOKEN", "unit-test-token")
    return load_target("lab", targets)


def run_gameday(pytester: pytest.Pytester, *extra: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p",
        "no:pytest-kind",
        "-p",
        "no:asyncio",
        "-p",
        "no:cacheprovider",
        "chaos",
        "--target",
        "lab",
        "--targets-file",
        "targets.yaml",
        *extra,
    )


def test_a_target_with_an_open_entry_is_refused_naming_it_and_the_command(
    pytester: pytest.Pytester, gameday_project: Target
) -> None:
    entry = Ledger().open(gameday_project, mode="bad-image", fault="set image x:v9", undo=UNDO)
    result = run_gameday(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    [line] = [line for line in text.splitlines() if entry.id in line]
    assert "set image x:v9" in line
    assert "run `offgridflow-runbook restore --target lab`" in line
    assert "offgridflow: or run the game day with --restore-first" in text
    assert "offgridflow: offgridflow:" not in text
    assert "1 passed" not in text
    assert Ledger().entries() == [entry]


def test_a_target_without_an_open_entry_is_not_refused(
    pytester: pytest.Pytester, gameday_project: Target
) -> None:
    Ledger().open(dataclasses.replace(gameday_project, name="other"), mode="oom", fault="elsewhere", undo=[])
    run_gameday(pytester).assert_outcomes(passed=1)


def test_restore_first_restores_then_the_game_day_goes_on(
    pytester: pytest.Pytester, gameday_project: Target
) -> None:
    entry = Ledger().open(gameday_project, mode="bad-image", fault="set image x:v9", undo=UNDO)
    pytester.makeconftest(
        """
        from datetime import UTC, datetime
        import offgridflow_runbook.restore as restore
        from helpers.chaos_fakes import RecordingPlatform
        from offgridflow_runbook.runbook.steps import Outcome, StepResult
        from offgridflow_runbook.runbook.verification import VerificationReport

        from offgridflow_runbook.platforms import Revision

        PLATFORM = RecordingPlatform(history=[Revision(1, "127.0.0.1:5000/offgridflow-api:v9.9.9")])
        SAVED = {}

        def pytest_configure(config):
            SAVED.update(platform_for=restore.platform_for, verify=restore.verify)
            restore.platform_for = lambda target: PLATFORM
            step = StepResult("Verification 1", "ready", Outcome.PASSED, "ready")
            restore.verify = lambda target, platform: VerificationReport(
                target.name, datetime.now(UTC), (step,), None)

        def pytest_unconfigure(config):
            restore.platform_for, restore.verify = SAVED["platform_for"], SAVED["verify"]

        def pytest_sessionfinish(session):
            print("calls:", PLATFORM.calls)
        """
    )
    result = run_gameday(pytester, "--restore-first", "-s")
    result.assert_outcomes(passed=1)
    text = result.stdout.str()
    assert f"[gameday] restore: {entry.summary()}: restored" in text
    assert "calls: ['set_image 127.0.0.1:5000/offgridflow-api:v1.3.0', 'wait_rollout']" in text
    assert Ledger().entries() == []


def test_restore_first_that_cannot_restore_refuses_the_game_day(
    pytester: pytest.Pytester, gameday_project: Target
) -> None:
    Ledger().open(gameday_project, mode="bad-image", fault="set image x:v9", undo=UNDO)
    pytester.makeconftest(
        """
        import offgridflow_runbook.restore as restore
        from offgridflow_runbook.platforms import PlatformError

        SAVED = {}

        def pytest_configure(config):
            SAVED.update(platform_for=restore.platform_for)

            def unreachable(target):
                raise PlatformError("the Docker Engine does not answer")

            restore.platform_for = unreachable

        def pytest_unconfigure(config):
            restore.platform_for = SAVED["platform_for"]
        """
    )
    result = run_gameday(pytester, "--restore-first")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = result.stdout.str() + result.stderr.str()
    assert "--restore-first could not restore" in text
    assert "no platform access: the Docker Engine does not answer" in text
    assert len(Ledger().entries()) == 1
