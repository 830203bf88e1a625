"""Proofs that age: passing runs kept with their date, each step's latest proof, stale after a quarter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offgridflow_runbook.gameday.modes import modes_by_name
from offgridflow_runbook.gameday.session import GameDay
from offgridflow_runbook.proofs import (
    PROOFS_ENV,
    QUARTER,
    Proof,
    parse_age,
    proof_table,
    read_proofs,
    record_proof,
    step_proofs,
    steps_proven_by,
)
from offgridflow_runbook.runbook.document import load_runbook
from offgridflow_runbook.targets import load_target

RUNBOOK = load_runbook()
NOW = 1_800_000_000.0
DAY = 86400.0


@pytest.fixture(autouse=True)
def proofs_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "proofs" / "proofs.jsonl"
    monkeypatch.setenv(PROOFS_ENV, str(path))
    return path


def _provable() -> set[str]:
    return {step for mode in modes_by_name().values() for step in steps_proven_by(RUNBOOK, mode.fix)}


def test_a_passing_run_proves_triage_1_its_fix_and_verification() -> None:
    steps = steps_proven_by(RUNBOOK, "Fix 2")
    verification = [step.id for step in RUNBOOK.steps if step.kind == "verification"]
    assert steps == ("Triage 1", "Fix 2", *verification)


def test_the_latest_proof_of_each_step_and_its_age(proofs_file: Path) -> None:
    record_proof(Proof(NOW - 200 * DAY, "kind", "kubernetes", "automatic", "oom", ("Triage 1", "Fix 2")))
    record_proof(Proof(NOW - 10 * DAY, "local", "docker", "operator", "oom", ("Triage 1", "Fix 2")))
    record_proof(Proof(NOW - 100 * DAY, "local", "docker", "automatic", "db-kill", ("Triage 1", "Fix 1")))
    with proofs_file.open("a") as stream:
        stream.write("not json\n")
    rows = {row.step: row for row in step_proofs(RUNBOOK, read_proofs(), _provable(), now=NOW)}
    assert rows["Fix 2"].proof is not None
    assert rows["Fix 2"].proof.kind == "operator"
    assert rows["Fix 2"].stale is False
    assert rows["Fix 1"].stale is True  # 100 days: older than a quarter
    assert rows["Fix 3"].proof is None
    assert rows["Fix 3"].stale is True
    assert "Quick Fix" not in rows  # no game-day mode exercises it
    table = proof_table(list(rows.values()))
    assert "Fix 2            proven" in table
    assert "by operator oom on local" in table
    assert "Fix 1" in table.split("STALE")[0] + table  # listed, and marked
    assert json.loads(proofs_file.read_text().splitlines()[0])["date"].startswith("2026-")


@pytest.mark.parametrize(("text", "seconds"), [("90d", 90 * DAY), ("12w", 84 * DAY), ("36h", 36 * 3600.0)])
def test_ages(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "0d", "-1d", "90", "ninety days", "1y"])
def test_bad_ages(text: str) -> None:
    with pytest.raises(ValueError, match="an age like"):
        parse_age(text)


def test_a_quarter_is_at_least_92_days() -> None:
    assert QUARTER >= 92 * DAY


def test_the_automated_game_day_keeps_a_passing_run_as_a_proof() -> None:
    day = object.__new__(GameDay)  # without its Prometheus read: only the proof is under test
    day.target = load_target("local")
    mode = modes_by_name()["bad-image"]
    day._prove("bad-image", json.loads(mode.path.read_text()))
    [proof] = read_proofs()
    assert (proof.kind, proof.mode, proof.target, proof.platform) == (
        "automatic",
        "bad-image",
        "local",
        "docker",
    )
    assert proof.steps == steps_proven_by(RUNBOOK, mode.fix)
