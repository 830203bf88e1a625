"""reporting: the token never reaches an artifact; one redacted JSON object per line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offgridflow_runbook.reporting import (
    REDACTED,
    JsonLinesWriter,
    Redactor,
    printable,
    secrets_from_environment,
    shown,
)

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


def test_a_json_lines_file_that_cannot_be_created_names_what_is_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    with pytest.raises(NotADirectoryError) as raised:
        JsonLinesWriter(tmp_path / "a-file" / "results.jsonl", Redactor())
    assert (raised.value.strerror, raised.value.filename) == ("Not a directory", str(tmp_path / "a-file"))
    with pytest.raises(IsADirectoryError):
        JsonLinesWriter(tmp_path, Redactor())


# -- control characters --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # retitles the terminal
        ("\x1b[2J", "\\x1b[2J"),  # clears the screen
        ("ok\rFAKE", "ok\\rFAKE"),  # overwrites what the line said
        ("\x9b2J", "\\x9b2J"),  # the one-byte C1 CSI
        ("\x00\x7f\x85", "\\x00\\x7f\\x85"),
        ("abc\u202edcba", "abc\\u202edcba"),  # a bidirectional override reorders what is read
        ("line\u2028break", "line\\u2028break"),
        ("lone \ud800", "lone \\ud800"),  # cannot even be encoded for a UTF-8 terminal
    ],
)
def test_control_characters_are_shown_not_obeyed(hostile: str, shown: str) -> None:
    assert printable(hostile) == shown
    assert printable(hostile, newlines=False) == shown


def test_newlines_are_kept_for_blocks_and_escaped_for_one_line_fields() -> None:
    assert printable("a\nb\tc") == "a\nb\tc"
    assert printable("a\nb\tc", newlines=False) == "a\\nb\tc"
    assert printable("plain text, ünïcödé, 日本語") == "plain text, ünïcödé, 日本語"


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("false", "the string 'false'"),
        (None, "null"),
        (False, "the boolean false"),
        (0, "the number 0"),
        ([1], "a list"),
        ({"a": 1}, "a mapping"),
        ("\x1b[2J\n", "the string '\\x1b[2J\\n'"),
        ("x" * 100, "the string '" + "x" * 55 + "...'"),
    ],
)
def test_a_value_is_named_in_one_short_line(value: object, named: str) -> None:
    assert shown(value) == named
