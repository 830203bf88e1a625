"""What the commands print from a target (events, logs, answers, records) is shown with its control
characters escaped: it cannot retitle, clear or rewrite the terminal, nor fake a line of the verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.drift_fakes import TOKEN, fake_api
from offgridflow_runbook.cli import main

SCENARIOS = Path(__file__).resolve().parents[1] / "runbook" / "triage" / "scenarios"
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r\ncause:    healthy"
SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\r\\ncause:    healthy"


def hostile_record(tmp_path: Path) -> Path:
    """The recorded OOM look, with hostile text in the events, the previous logs and the image."""
    look = json.loads((SCENARIOS / "docker" / "oom.json").read_text())
    reads = look["reads"]
    for event in reads["events"]["value"]:
        event["message"] += HOSTILE
    reads["previous_logs"]["value"] = {
        name: HOSTILE + text for name, text in reads["previous_logs"]["value"].items()
    }
    for workload in reads["api_workloads"]["value"]:
        workload["image"] += HOSTILE
    path = tmp_path / "look.json"
    path.write_text(json.dumps(look))
    return path


def test_diagnose_shows_control_characters_from_the_target_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["diagnose", "--from-record", str(hostile_record(tmp_path))])
    out = capsys.readouterr().out
    assert code == 2
    assert SHOWN in out  # the hostile text is there, visibly
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "\r" not in out
    # a newline inside a reading cannot start a line of its own: one verdict, one cause line
    assert [line for line in out.splitlines() if line.startswith("cause:")] == ["cause:    oom"]


def test_diagnose_json_escapes_them_as_json_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["diagnose", "--from-record", str(hostile_record(tmp_path)), "--json"])
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\\u001b]0;pwned\\u0007" in out


def test_drift_shows_an_answer_with_control_characters_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a regression guard: drift's excerpts were already quoted before the command escaped its whole
    # table, so this passes on either; the table's escaping itself is printable's (tests/test_reporting.py)
    monkeypatch.setenv("DRIFT_TEST_TOKEN", TOKEN)
    body = '{"status":"healthy","note":"\x1b]0;pwned\x07\x1b[2J"}'
    with fake_api({"/health/ready": (200, body)}) as base_url:
        targets = tmp_path / "targets.yaml"
        targets.write_text(
            f"targets:\n  d:\n    platform: docker\n    base_url: {base_url}\n"
            f"    metrics_url: {base_url}/metrics\n    token_env: DRIFT_TEST_TOKEN\n"
        )
        main(["drift", "--target", "d", "--targets-file", str(targets), "--timeout", "5"])
    out = capsys.readouterr().out
    assert '{"status":"healthy","note":"\\x1b]0;pwned' in out
    assert "\x1b" not in out
    assert "\x07" not in out
