"""Proofs that age: passing runs kept with their date, each step's latest proof, stale after a quarter."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from offgridflow_runbook.gameday.modes import modes_by_name
from offgridflow_runbook.gameday.session import GameDay
from offgridflow_runbook.proofs import (
    PROOFS_ENV,
    QUARTER,
    Proof,
    ProofsError,
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


def test_a_proofs_file_not_written_yet_holds_no_proofs(proofs_file: Path) -> None:
    assert read_proofs() == []


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda path: path.mkdir(), "is a directory, not a JSON-lines file (OFFGRIDFLOW_PROOFS)"),
        (
            lambda path: path.write_bytes(b'{"at": 1}\n\xff\n'),
            "is not UTF-8 text (byte 10: invalid start byte)",
        ),
    ],
    ids=["directory", "binary"],
)
def test_a_proofs_file_that_cannot_be_read_is_one_line_naming_it(
    proofs_file: Path, make: Callable[[Path], object], problem: str
) -> None:
    proofs_file.parent.mkdir()
    make(proofs_file)
    with pytest.raises(ProofsError) as raised:
        read_proofs()
    assert str(raised.value) == f"proofs file {proofs_file} {problem}"


def test_a_proofs_path_under_a_file_is_one_line_not_no_proofs(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(
        ProofsError, match=r"^proofs file .*/file/proofs.jsonl cannot be read: Not a directory$"
    ):
        read_proofs(tmp_path / "file" / "proofs.jsonl")


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_proofs_file_that_never_ends_is_refused_before_it_is_read(tmp_path: Path, kind: str) -> None:
    path = Path("/dev/zero")
    if kind == "fifo":
        path = tmp_path / "proofs.jsonl"
        os.mkfifo(path)
    # in a child with a deadline and a memory cap: a FIFO would wait for a writer, /dev/zero be read forever
    code = "import sys, pathlib, offgridflow_runbook.proofs as p\np.read_proofs(pathlib.Path(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"offgridflow_runbook.proofs.ProofsError: proofs file {path} is not a regular file ({PROOFS_ENV})"
    )


@pytest.mark.parametrize("at", ["1e300", "-1e300", "1e400", "-1e400", '"nan"', "NaN", '"inf"', "-1e11"])
def test_a_proof_whose_time_is_no_date_is_skipped_like_any_malformed_line(proofs_file: Path, at: str) -> None:
    record_proof(Proof(NOW - DAY, "local", "docker", "automatic", "oom", ("Triage 1", "Fix 2")))
    fields = '"target": "kind", "platform": "kubernetes", "kind": "operator", "mode": "oom"'
    with proofs_file.open("a") as stream:
        stream.write(f'{{"at": {at}, {fields}, "steps": ["Triage 1", "Fix 2"]}}\n')
    [proof] = read_proofs()
    assert proof.target == "local"
    rows = step_proofs(RUNBOOK, [proof], _provable(), now=NOW)
    assert "by automatic oom on local" in proof_table(rows)
    assert json.dumps([row.as_dict() for row in rows])


def test_a_line_nested_too_deeply_is_skipped_like_any_malformed_line(proofs_file: Path) -> None:
    record_proof(Proof(NOW - DAY, "local", "docker", "automatic", "oom", ("Triage 1", "Fix 2")))
    with proofs_file.open("a") as stream:
        stream.write("[" * 100_000 + "\n")
    assert [proof.target for proof in read_proofs()] == ["local"]
