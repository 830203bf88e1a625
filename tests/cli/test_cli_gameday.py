"""``offgridflow-runbook gameday`` (the operator game day's command and what the people say to it) and
``coverage --max-proof-age``: one line and exit 64 for every mistake; the desk reached; a game day whose
process is gone aborted by restoring its ledger."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from helpers.cli_exit import exit_code
from offgridflow_runbook.cli import main
from offgridflow_runbook.gameday.error_budget import MEASURED, VERIFIED, ErrorBudget
from offgridflow_runbook.gameday.modes import EXTENSION, load_modes
from offgridflow_runbook.operator.desk import OPERATOR_DIR_ENV, Desk
from offgridflow_runbook.proofs import PROOFS_ENV, Proof, read_proofs, record_proof, steps_proven_by
from offgridflow_runbook.runbook import load_runbook
from offgridflow_runbook.targets import load_target, target_fingerprint, write_resolved_target


@pytest.fixture(autouse=True)
def desk_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(OPERATOR_DIR_ENV, str(tmp_path / "operator"))
    monkeypatch.setenv(PROOFS_ENV, str(tmp_path / "proofs.jsonl"))
    return tmp_path / "operator"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["gameday"], "the automated game day is `make gameday`"),
        (["gameday", "ack"], "no operator game day is running"),
        (["gameday", "call", "Fix 9"], "call a runbook section"),
        (["gameday", "note"], "`gameday note` needs a text"),
        (["gameday", "ack", "--operator"], "drop --operator"),
        (["gameday", "--operator", "--target", "local"], "--fault: one of"),
        (["gameday", "--operator", "--target", "local", "--fault", "db-crash-loop"], "on docker one of"),
        (["gameday", "--operator", "--target", "production", "--fault", "oom"], "allow_chaos"),
        (["gameday", "--operator", "--target", "nowhere", "--fault", "oom"], "unknown target"),
        (
            ["gameday", "--operator", "--target", "local", "--fault", "oom", "--sla-share", "2"],
            "share of the SLA",
        ),
        (["coverage", "--max-proof-age", "soon"], "an age like"),
    ],
)
def test_every_mistake_is_one_line_and_exit_64(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = exit_code(argv)
    assert code == 64
    err = capsys.readouterr().err
    assert says in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_a_new_experiment_file_is_a_fault_the_operator_can_pick(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "experiments"
    folder.mkdir()
    modes = load_modes()
    for mode in modes:
        assert mode.path is not None
        (folder / mode.path.name).write_text(mode.path.read_text())
    [model, *_] = [mode for mode in modes if mode.runs_on("docker")]
    assert model.path is not None
    document = json.loads(model.path.read_text())
    [extension] = [e for e in document["extensions"] if e["name"] == EXTENSION]
    extension["mode"] = "brand-new"
    (folder / "brand-new.json").write_text(json.dumps(document))
    argv = ["gameday", "--operator", "--target", "local", "--experiments", str(folder), "--fault", "nope"]
    assert main(argv) == 64
    err = capsys.readouterr().err.strip()
    offered = err.split(" one of ", 1)[1].removesuffix(" or random").split(", ")
    assert offered == sorted(["brand-new", *(m.name for m in modes if m.runs_on("docker"))])

    (folder / "foreign.json").write_text("{}")
    assert main(argv) == 64
    err = capsys.readouterr().err
    assert "foreign.json: not an offgridflow game-day experiment" in err
    assert len(err.strip().splitlines()) == 1


def test_the_people_reach_the_running_game_day(desk_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    game = Desk(desk_dir)
    game.open({"target": "local", "pid": os.getpid()})
    assert main(["gameday", "ack"]) == 0
    assert main(["gameday", "call", "fix 2"]) == 0  # the runbook's spelling is kept
    assert main(["gameday", "note", "where is the Grafana dashboard?"]) == 0
    said = [(c.kind, c.text) for c in game.new_commands()]
    assert said == [("ack", ""), ("call", "Fix 2"), ("note", "where is the Grafana dashboard?")]
    assert "told the game day: call Fix 2" in capsys.readouterr().out


def test_abort_of_a_game_day_whose_process_is_gone_restores_its_ledger(
    desk_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = load_target("local")
    resolved = tmp_path / "target.json"
    write_resolved_target(target, resolved)
    Desk(desk_dir).open(
        {
            "target": "local",
            "pid": 2**22 + 12345,
            "resolved_target": str(resolved),
            "fingerprint": target_fingerprint(target),
        }
    )
    restored: list[str] = []

    def restore(chosen: object, **_kwargs: object) -> object:
        from offgridflow_runbook.restore import RestoreReport

        restored.append(getattr(chosen, "name", ""))
        return RestoreReport("local", tmp_path)

    monkeypatch.setattr("offgridflow_runbook.restore.restore", restore)
    assert main(["gameday", "abort"]) == 0
    assert restored == ["local"]
    assert Desk(desk_dir).running() is None
    assert "nothing to restore" in capsys.readouterr().out


def test_coverage_fails_a_stale_or_missing_proof_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage"]) == 0
    out = capsys.readouterr().out
    assert "Fix 2            never proven by a game day  STALE" in out
    assert main(["coverage", "--max-proof-age", "90d"]) == 1
    # every step a mode of chaos/experiments proves (the Fixes, Triage 2D, Verification)
    runbook = load_runbook()
    steps = tuple(dict.fromkeys(step for mode in load_modes() for step in steps_proven_by(runbook, mode.fix)))
    record_proof(Proof(time.time() - 3600, "local", "docker", "operator", "oom", steps))
    assert main(["coverage", "--max-proof-age", "90d"]) == 0
    assert "by operator oom on local" in capsys.readouterr().out
    assert main(["coverage", "--max-proof-age", "30m"]) == 1


def test_an_operator_game_day_from_the_command_to_its_record_and_proof(
    desk_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole command with the world faked (the live hooks) and a scripted operator that reads the
    game day's state from its live view over HTTP, as the e2e tests do."""
    import httpx

    from helpers.operator_fakes import ChangingPlatform, FakeClock, World
    from helpers.scripted_operator import operator_for

    clock = FakeClock()
    world = World(
        platform=ChangingPlatform(),
        desk=Desk(desk_dir, clock=clock),
        fault=lambda platform: None,
        healed=lambda platform: platform.history[-1].memory_limit == "2Gi",
        fix=lambda platform: platform.patch_memory(limit="2Gi", request="1Gi"),
        clock=clock,
    )
    target = load_target("local")
    world.operator = operator_for(world.desk, "Fix 2", target, lambda: world.platform, delays=(5, 5, 5))

    def state() -> dict[str, object]:
        running = world.desk.running() or {}
        answer: dict[str, object] = httpx.get(f"{running['view']}state.json", timeout=5).json()
        return answer

    world.state = state
    monkeypatch.setattr("offgridflow_runbook.operator.session.live_hooks", lambda *args, **kw: world.hooks())
    asked: list[tuple[object, ...]] = []

    def measured(url: str | None, start: float | None, end: float | None, **kw: Any) -> ErrorBudget:
        asked.append((url, start, end, kw["until"]))  # the target's Prometheus is never read in a unit test
        return ErrorBudget(MEASURED, 0.01, start, end, requests=200.0, failed=1.0, until=kw["until"])

    monkeypatch.setattr("offgridflow_runbook.gameday.error_budget.error_budget", measured)
    reports = tmp_path / "reports"
    argv = ["gameday", "--operator", "--target", "local", "--fault", "oom", "--port", "0"]
    assert main([*argv, "--reports", str(reports)]) == 0
    out = capsys.readouterr().out
    assert "live view: http://127.0.0.1:" in out
    assert "passed: oom (fixed by Fix 2) on local" in out
    assert Desk(desk_dir).running() is None  # closed: commands are refused from now on
    assert (reports / "oom-postmortem.md").is_file()
    assert "Fix 2 at" in (reports / "oom-postmortem.md").read_text()
    # the error budget over the fault -> Verification window, from the target's Prometheus
    [(url, start, end, until)] = asked
    [entry] = json.loads((reports / "scorecard.json").read_text())["operator"]
    assert (url, start, until) == (load_target("local").prometheus_url, entry["fault_at"], VERIFIED)
    assert end is not None
    assert end - entry["fault_at"] == entry["reached_s"]["verified"]
    assert "error budget 50.0%" in out
    assert (
        "Error budget: 50.0% burned: 1 of 200 requests failed" in (reports / "oom-postmortem.md").read_text()
    )
    [proof] = read_proofs()
    assert (proof.kind, proof.mode, proof.target) == ("operator", "oom", "local")


def test_a_live_view_port_in_use_is_one_line_and_exit_64(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["gameday", "--operator", "--target", "local", "--fault", "oom", "--port", str(port)]
        assert main([*argv, "--reports", str(tmp_path)]) == 64
    err = capsys.readouterr().err
    assert "the live view cannot listen" in err
    assert len(err.strip().splitlines()) == 1
