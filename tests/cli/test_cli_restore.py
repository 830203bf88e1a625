"""``offgridflow-runbook restore`` as a user runs it: exit 0 restored or nothing open (and which),
1 not restored with one line per entry, ``--list`` changing nothing, bad options one line and 64."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from helpers.chaos_fakes import RecordingPlatform
from offgridflow_runbook import restore as restore_module
from offgridflow_runbook.cli import main
from offgridflow_runbook.ledger import Ledger, Undo, UndoAction
from offgridflow_runbook.ledger import main as ledger_main
from offgridflow_runbook.platforms import Revision
from offgridflow_runbook.runbook.steps import Outcome, StepResult
from offgridflow_runbook.runbook.verification import VerificationReport
from offgridflow_runbook.targets import load_target

TARGETS_FILE = Path(__file__).parents[2] / "targets.yaml"
GOOD = "127.0.0.1:5000/offgridflow-api:v1.3.0"
BAD = "127.0.0.1:5000/offgridflow-api:v9.9.9-does-not-exist"
ARGS = ["restore", "--target", "local", "--targets-file", str(TARGETS_FILE)]


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> RecordingPlatform:
    """The bad image in place; Verification passes (a stand-in for the look at the real stack)."""
    fake = RecordingPlatform(history=[Revision(1, BAD, "512Mi", "256Mi")])
    monkeypatch.setattr(restore_module, "platform_for", lambda target: fake)
    step = StepResult("Verification 1", "ready", Outcome.PASSED, "ready")
    monkeypatch.setattr(
        restore_module,
        "verify",
        lambda target, platform: VerificationReport(target.name, datetime.now(UTC), (step,), None),  # type: ignore[arg-type]
    )
    return fake


def open_entry(fault: str = "set image x:v9", undo: list[Undo] | None = None) -> None:
    Ledger().open(
        load_target("local", TARGETS_FILE),
        mode="bad-image",
        fault=fault,
        undo=undo if undo is not None else [Undo(UndoAction.SET_IMAGE, {"image": GOOD})],
    )


def test_nothing_open_exits_0_and_says_so(
    platform: RecordingPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(ARGS) == 0
    ledger = Ledger().directory
    assert capsys.readouterr().out == (
        f"target 'local': nothing open in the fault ledger ({ledger}); nothing to restore\n"
    )
    assert platform.calls == []


def test_restored_exits_0_and_says_so(
    platform: RecordingPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    open_entry()
    assert main(ARGS) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(f"restored (image set back to {GOOD})")
    assert lines[-1] == "target 'local': restored; Verification 1-5 pass"
    assert Ledger().entries() == []


def test_not_restored_exits_1_with_one_line_per_entry_and_the_reason(
    platform: RecordingPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    open_entry()
    open_entry(
        "new key", [Undo(UndoAction.UPDATE_CONFIG, {"key": "X_NEW", "previous": None, "had_value": False})]
    )
    assert main(ARGS) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert (
        "NOT restored: offgridflow-config X_NEW removed (no value before the fault): the suite does not "
        "delete keys: remove X_NEW from offgridflow-config by hand" in lines[0]
    )
    assert lines[1].endswith(f"restored (image set back to {GOOD})")
    assert lines[2] == "target 'local': 1 ledger entries NOT restored (above)"


def test_list_shows_what_would_be_undone_and_changes_nothing(
    platform: RecordingPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    open_entry()
    assert main([*ARGS, "--list"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert "set image x:v9" in line
    assert f"would undo: image back to {GOOD}" in line
    assert platform.calls == []
    assert len(Ledger().entries()) == 1
    assert main([*ARGS, "--dry-run"]) == 0


def test_list_with_nothing_open(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*ARGS, "--list"]) == 0
    assert (
        capsys.readouterr().out
        == f"target 'local': nothing open in the fault ledger ({Ledger().directory})\n"
    )


@pytest.mark.parametrize("deadline", ["nan", "-1", "0", "inf", "soon", "1e9"])
def test_a_bad_deadline_is_one_line_and_exit_64(deadline: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*ARGS, "--deadline", deadline])
    assert exited.value.code == 64
    error = capsys.readouterr().err
    assert error.splitlines()[-1] == (
        f"offgridflow-runbook restore: error: argument --deadline: seconds 1..86400, not {deadline!r} "
        "(see --help)"
    )
    assert "Traceback" not in error


def test_an_unknown_target_is_one_line_and_exit_64(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["restore", "--target", "nowhere", "--targets-file", str(TARGETS_FILE)]) == 64
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("offgridflow-runbook: error: unknown target 'nowhere'")


def test_the_ledger_module_names_open_entries_for_make_up_and_kind_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert ledger_main(["--platform", "docker"]) == 0
    assert capsys.readouterr().out == ""
    open_entry()
    assert ledger_main(["--platform", "kubernetes"]) == 0
    assert capsys.readouterr().out == ""  # the entry is for a Docker target
    assert ledger_main(["--platform", "docker"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("WARNING: open fault ledger entry ")
    assert "run `offgridflow-runbook restore --target local`" in line
