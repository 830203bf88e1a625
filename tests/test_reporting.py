"""reporting: the token never reaches an artifact; one redacted JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offgridflow_runbook.reporting import REDACTED, JsonLinesWriter, Redactor, secrets_from_environment

TOKEN = "s3cr3t-token-value"


def test_a_known_secret_is_replaced_wherever_it_appears() -> None:
    redact = Redactor([TOKEN])
    assert redact(f"Authorization: Bearer {TOKEN} (again: {TOKEN})") == (
        f"Authorization: Bearer {REDACTED} (again: {REDACTED})"
    )


def test_a_secret_that_contains_another_is_replaced_whole() -> None:
    redact = Redactor(["abcdef", "abcdefghij"])
    assert redact("x abcdefghij y") == f"x {REDACTED} y"


def test_values_shorter_than_six_characters_are_not_secrets_so_words_survive() -> None:
    redact = Redactor(["pass", None, ""])
    assert not redact
    assert redact("password pass") == "password pass"


def test_every_string_inside_a_json_like_value_is_redacted() -> None:
    redact = Redactor([TOKEN])
    value = {"header": f"Bearer {TOKEN}", "items": [TOKEN, 3, None], "nested": {"t": (TOKEN,)}}
    assert redact.value(value) == {
        "header": f"Bearer {REDACTED}",
        "items": [REDACTED, 3, None],
        "nested": {"t": [REDACTED]},
    }


def test_secrets_are_read_from_the_named_variables_that_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTING_TEST_TOKEN", TOKEN)
    monkeypatch.delenv("REPORTING_TEST_UNSET", raising=False)
    assert secrets_from_environment("REPORTING_TEST_TOKEN", "REPORTING_TEST_UNSET", None) == [TOKEN]


def test_the_json_lines_file_starts_afresh_and_holds_one_redacted_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "out" / "checks.jsonl"
    path.parent.mkdir()
    path.write_text("left over from an earlier run\n", encoding="utf-8")
    writer = JsonLinesWriter(path, Redactor([TOKEN]))
    writer.write({"check": "a", "message": f"token {TOKEN}"})
    writer.write({"check": "b", "outcome": "passed"})
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["check"] for line in lines] == ["a", "b"]
    assert lines[0]["message"] == f"token {REDACTED}"
    assert TOKEN not in path.read_text(encoding="utf-8")
    assert all("at" in line for line in lines)
