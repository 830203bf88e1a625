"""The desk, the change a fix makes and its section, the record."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from helpers.operator_fakes import ChangingPlatform
from offgridflow_runbook.gameday.error_budget import MEASURED, ErrorBudget
from offgridflow_runbook.operator.changes import read_target, section_of_change
from offgridflow_runbook.operator.desk import Desk, DeskError
from offgridflow_runbook.operator.phases import OperatorRun
from offgridflow_runbook.operator.record import automated_figures, write_record
from offgridflow_runbook.runbook.commands import known_good_tag


# -- the desk ----------------------------------------------------------------------------------------
def test_commands_reach_the_running_game_day_once_each_and_in_order(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    with pytest.raises(DeskError, match="no operator game day is running"):
        desk.send("ack")
    desk.open({"target": "local"})
    with pytest.raises(DeskError, match="already running"):
        Desk(tmp_path).open({"target": "local"})
    people = Desk(tmp_path)
    threads = [threading.Thread(target=people.send, args=("note", f"n{i}")) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    people.send("call", "Fix 2")
    seen = desk.new_commands()
    assert sorted(c.text for c in seen if c.kind == "note") == sorted(f"n{i}" for i in range(20))
    assert seen[-1].kind == "call"
    assert desk.new_commands() == []
    with desk.commands_path.open("a") as stream:
        stream.write('{"kind": "ack", "at": 1')  # a line still being written
    assert desk.new_commands() == []
    desk.close()
    with pytest.raises(DeskError):
        people.send("ack")


def test_of_two_game_days_opened_at_once_one_runs_and_keeps_its_commands(tmp_path: Path) -> None:
    desks = [Desk(tmp_path) for _ in range(8)]
    refused: list[Desk] = []

    def open_desk(desk: Desk) -> None:
        try:
            desk.open({"target": "local"})
        except DeskError:
            refused.append(desk)

    threads = [threading.Thread(target=open_desk, args=(desk,)) for desk in desks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    (running,) = [desk for desk in desks if desk not in refused]
    Desk(tmp_path).send("note", "seen")
    with pytest.raises(DeskError, match="already running"):
        Desk(tmp_path).open({"target": "kind"})  # a late one empties no log either
    assert [command.text for command in running.new_commands()] == ["seen"]
    assert json.loads(running.running_path.read_text(encoding="utf-8")) == {"target": "local"}


@pytest.mark.parametrize(
    ("kind", "text", "message"), [("call", " ", "needs a text"), ("wave", "", "unknown")]
)
def test_a_malformed_command_is_refused(tmp_path: Path, kind: str, text: str, message: str) -> None:
    desk = Desk(tmp_path)
    desk.open({})
    with pytest.raises(DeskError, match=message):
        desk.send(kind, text)


# -- the change a fix makes --------------------------------------------------------------------------
def test_each_fix_is_told_by_the_change_it_makes() -> None:
    platform = ChangingPlatform()
    baseline = read_target(platform)
    assert section_of_change(baseline, read_target(platform)) is None
    platform.patch_memory(limit="2Gi", request="1Gi")
    assert section_of_change(baseline, read_target(platform)) == ("Fix 2", "memory limit 512Mi -> 2Gi")

    platform = ChangingPlatform()
    platform.set_image("127.0.0.1:5000/offgridflow-api:v9.9.9-does-not-exist")  # the fault
    baseline = read_target(platform)
    platform.set_image(f"127.0.0.1:5000/offgridflow-api:{known_good_tag()}")
    section, _change = section_of_change(baseline, read_target(platform)) or ("", "")
    assert section == "Fix 4"

    platform = ChangingPlatform()
    platform.set_image("127.0.0.1:5000/offgridflow-api:v9.9.9-does-not-exist")
    baseline = read_target(platform)
    platform.rollout_undo()
    assert (section_of_change(baseline, read_target(platform)) or ("",))[0] == "Fix 3"

    platform = ChangingPlatform(configuration={"OFFGRIDFLOW_DB_POOL_MAX": "lots"})
    baseline = read_target(platform)
    platform.configuration["OFFGRIDFLOW_DB_POOL_MAX"] = "10"
    assert section_of_change(baseline, read_target(platform)) == (
        "Fix 3",
        "rollout undone: configuration OFFGRIDFLOW_DB_POOL_MAX changed back",
    )

    platform = ChangingPlatform()
    platform.kill_database()
    baseline = read_target(platform)
    assert section_of_change(baseline, read_target(platform)) is None
    platform.restart_database()
    assert (section_of_change(baseline, read_target(platform)) or ("",))[0] == "Fix 1"


def test_a_secret_value_never_appears_in_the_change() -> None:
    platform = ChangingPlatform(configuration={"OFFGRIDFLOW_DATABASE_PASSWORD": "s3cret"})
    baseline = read_target(platform)
    platform.configuration["OFFGRIDFLOW_DATABASE_PASSWORD"] = "other-s3cret"
    _section, change = section_of_change(baseline, read_target(platform)) or ("", "")
    assert "s3cret" not in change


# -- the record --------------------------------------------------------------------------------------
def test_the_record_lists_calls_fix_and_notes_and_keeps_one_entry_per_mode(tmp_path: Path) -> None:
    run = OperatorRun("oom", "Fix 2", "local", 100.0, fault_at=100.0, detected_at=130.0, acked_at=150.0)
    run.call("Fix 1", 200.0)
    run.call("Fix 2", 260.0)
    run.notes.append({"text": "how to read kubectl top", "at": 210.0})
    budgets = {"confirm": 120.0, "identify": 300.0, "fix": 120.0, "verify": 180.0}
    score = run.score(budgets, 300.0, 270.0)
    written = write_record(score, tmp_path)
    written = write_record(replace(run, target="kind").score(budgets, 300.0, 270.0), tmp_path)
    write_record(score, tmp_path)
    card = json.loads(written["scorecard"].read_text())
    assert sorted((s["mode"], s["target"]) for s in card["operator"]) == [("oom", "kind"), ("oom", "local")]
    postmortem = written["postmortem"].read_text()
    assert "Fix 1 at 100 s: wrong" in postmortem
    assert "Fix 2 at 160 s: right" in postmortem
    assert "No change a runbook fix makes was seen." in postmortem
    proposals = written["proposals"].read_text()
    assert "looked up, outside the runbook: how to read kubectl top" in proposals
    assert "Fix 1 was called for a fault Fix 2 fixes" in proposals


def test_the_record_states_the_error_budget_or_unknown(tmp_path: Path) -> None:
    run = OperatorRun("oom", "Fix 2", "local", 100.0, fault_at=100.0, detected_at=130.0, verified_at=220.0)
    budgets = {"confirm": 120.0, "identify": 300.0, "fix": 120.0, "verify": 180.0}
    score = run.score(budgets, 300.0, 270.0)
    unmeasured = write_record(score, tmp_path / "unmeasured")["postmortem"].read_text()
    assert "Error budget: unknown (not measured)." in unmeasured
    score["error_budget"] = ErrorBudget(MEASURED, 0.01, 100.0, 220.0, requests=1000.0, failed=30.0).as_dict()
    written = write_record(score, tmp_path / "measured")
    assert "Error budget: 300.0% burned: 30 of 1000 requests failed (5xx) in the 120 s" in (
        written["postmortem"].read_text()
    )
    [entry] = json.loads(written["scorecard"].read_text())["operator"]
    assert (entry["error_budget"]["burned"], entry["error_budget"]["slo"]) == (3.0, 0.99)


def test_the_automated_figures_are_read_per_mode(tmp_path: Path) -> None:
    card = tmp_path / "scorecard.json"
    assert automated_figures("oom", card) is None
    card.write_text(json.dumps({"experiments": [{"mode": "oom", "mttd_s": 31.5}]}))
    assert (automated_figures("oom", card) or {})["mttd_s"] == 31.5
    assert automated_figures("db-kill", card) is None
    card.write_text("[")
    assert automated_figures("oom", card) is None
