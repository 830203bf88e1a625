"""Every subcommand: a malformed input is one line on stderr and exit 64 (never 1, which is "drift
found" or "checks failed", and never a traceback); a closed stdout pipe ends the command quietly."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.cli_exit import exit_code
from offgridflow_runbook.cli import EXIT_USAGE, main
from offgridflow_runbook.cli.options import EXIT_CANNOT_CREATE, port_in

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tests" / "runbook" / "triage" / "scenarios"
TARGETS = "targets:\n  t:\n    platform: none\n    base_url: http://127.0.0.1:9\n"


def one_usage_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command; assert exit 64, nothing on stdout and one line on stderr; return the line."""
    code = exit_code(argv)
    captured = capsys.readouterr()
    assert code == EXIT_USAGE, captured
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.endswith("\n")
    return captured.err.rstrip("\n")


@pytest.fixture
def targets(tmp_path: Path) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(TARGETS)
    return path


@pytest.mark.parametrize(
    "timeout", ["nan", "NaN", "inf", "-inf", "-1", "0", "1e309", "601", "ten", "", "0x10"]
)
def test_drift_timeout_must_be_a_finite_positive_number_of_seconds(
    timeout: str, targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_usage_line(
        ["drift", "--targets-file", str(targets), "--target", "t", f"--timeout={timeout}"], capsys
    )
    assert line == (
        f"offgridflow-runbook drift: error: argument --timeout: seconds 1..600, not {timeout!r} (see --help)"
    )


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("10000000000d", "'10000000000d' is longer than 30d, the longest window events are kept"),
        ("31d", "'31d' is longer than 30d"),
        ("2592001s", "'2592001s' is longer than 30d"),
        ("9" * 5000 + "s", "is not a duration such as 10m, 1h or 2d"),
        ("0m", "'0m' is not a duration"),
        ("-5m", "'-5m' is not a duration"),
        ("1.5h", "'1.5h' is not a duration"),
        ("٣m", "'٣m' is not a duration"),  # Arabic-Indic digits: int() would take them
        ("5", "'5' is not a duration"),
    ],
)
def test_since_is_a_bounded_duration(since: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_usage_line(["diagnose", f"--since={since}"], capsys)
    assert line.startswith("offgridflow-runbook diagnose: error: argument --since: ")
    assert expected in line


def test_the_longest_since_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    record = SCENARIOS / "docker" / "oom.json"
    assert main(["diagnose", "--from-record", str(record), "--since", "30d"]) == 2
    assert "cause:" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "100.5", "x"])
def test_coverage_min_is_a_percentage(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "a percentage 0..100" in one_usage_line(["coverage", f"--min-coverage={value}"], capsys)


@pytest.mark.parametrize("command", ["diagnose", "drift"])
def test_a_directory_as_targets_file(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_usage_line([command, "--targets-file", str(tmp_path), "--target", "t"], capsys)
    assert line == f"offgridflow-runbook: error: targets file {tmp_path} is a directory, not a YAML file"


@pytest.mark.parametrize("command", ["diagnose", "drift"])
def test_a_bad_override_names_the_option(
    command: str, targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_usage_line(
        [command, "--targets-file", str(targets), "--target", "t", "--base-url=ftp://x"], capsys
    )
    assert line.startswith(
        "offgridflow-runbook: error: target 't': --base-url must be an http:// or https:// URL"
    )


@pytest.mark.parametrize("command", ["coverage", "drift"])
def test_a_runbook_that_is_not_one(
    command: str, targets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = tmp_path / "runbook.md"
    binary.write_bytes(b"\xff\xfe# runbook")
    target = ["--targets-file", str(targets), "--target", "t"] if command == "drift" else []
    line = one_usage_line([command, *target, "--runbook", str(binary)], capsys)
    assert line == f"offgridflow-runbook: error: cannot read the runbook {binary}: not UTF-8 text (byte 0)"
    assert "is a directory" in one_usage_line([command, *target, "--runbook", str(tmp_path)], capsys).lower()
    prose = tmp_path / "prose.md"
    prose.write_text("# not a runbook\n")
    assert f"{prose}:1: no '**Alert Name**" in one_usage_line(
        [command, *target, "--runbook", str(prose)], capsys
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "cannot read the recorded look: not JSON (Expecting value: line 1 column 1 (char 0))"),
        (b"\xff", "cannot read the recorded look: not UTF-8 text (byte 0)"),
        (b"[]", "not a recorded look (format None, expected 'offgridflow-look/1')"),
        (b'{"format": "offgridflow-look/1"}', "target must be an object, not null"),
        (b"[" * 100000, "nested too deeply"),
    ],
)
def test_a_from_record_of_the_wrong_shape(
    content: bytes, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "look.json"
    path.write_bytes(content)
    line = one_usage_line(["diagnose", "--from-record", str(path)], capsys)
    assert line.startswith(f"offgridflow-runbook: error: {path}: ")
    assert expected in line


def test_a_from_record_that_is_a_directory_or_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert one_usage_line(["diagnose", "--from-record", str(tmp_path)], capsys).endswith(
        "cannot read the recorded look: a directory, not a file"
    )
    assert one_usage_line(["diagnose", "--from-record", str(tmp_path / "gone.json")], capsys).endswith(
        "cannot read the recorded look: No such file or directory"
    )


def test_a_record_path_that_cannot_be_written_is_one_line_and_exit_73(
    targets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["diagnose", "--targets-file", str(targets), "--target", "t", "--record", str(tmp_path)]
    assert main(argv) == EXIT_CANNOT_CREATE
    captured = capsys.readouterr()
    assert captured.err.startswith(f"offgridflow-runbook: error: --record {tmp_path}: cannot write: ")
    assert captured.err.count("\n") == 1


def test_check_without_a_checks_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_usage_line(["check", "--checks-dir", str(tmp_path / "none")], capsys)
    assert line == f"offgridflow-runbook: error: no checks directory at {tmp_path / 'none'}"


def test_check_names_a_wrong_target_in_one_line_before_pytest_starts(
    targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_usage_line(["check", "--targets-file", str(targets), "--target", "nope"], capsys)
    assert line == f"offgridflow-runbook: error: unknown target 'nope'; known targets in {targets}: t"
    argv = ["check", "--targets-file", str(targets), "--target", "t", "--base-url", "x"]
    line = one_usage_line(argv, capsys)
    assert line.startswith(
        "offgridflow-runbook: error: target 't': --base-url must be an http:// or https://"
    )


def test_check_passes_the_target_options_on_to_pytest_each_as_one_word(targets: Path) -> None:
    from offgridflow_runbook.cli import build_parser
    from offgridflow_runbook.cli.check import pytest_target_args

    given = build_parser().parse_args(
        ["check", "--targets-file", str(targets), "--namespace", "ns", "--", "-q"]
    )
    assert pytest_target_args(given) == ["--target=local", f"--targets-file={targets}", "--namespace=ns"]
    assert given.pytest_args == ["--", "-q"]


def test_an_empty_checks_dir_is_refused_in_one_line_with_64(capsys: pytest.CaptureFixture[str]) -> None:
    # Path("") is ".": from the repository that was the whole suite, the tests that change live systems too
    line = one_usage_line(["check", "--checks-dir", ""], capsys)
    assert line == "offgridflow-runbook check: error: argument --checks-dir: must not be empty (see --help)"


def test_a_directory_without_its_own_pytest_ini_is_not_a_checks_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a directory with tests but not the checks' configuration (were it run, only this stub would)
    (tmp_path / "test_stub.py").write_text("def test_stub() -> None:\n    pass\n")
    line = one_usage_line(["check", "--checks-dir", str(tmp_path)], capsys)
    assert line.startswith(f"offgridflow-runbook: error: no checks directory at {tmp_path}: ")
    assert line.endswith("it holds no pytest.ini (as checks/ does)")


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--checks-dir"],
        ["check", "--target"],
        ["diagnose", "--from-record"],
        ["diagnose", "--record"],
        ["diagnose", "--targets-file"],
        ["diagnose", "--kubeconfig"],
        ["diagnose", "--target"],
        ["drift", "--runbook"],
        ["drift", "--kubectl"],
        ["coverage", "--runbook"],
        ["gate", "--checks-dir"],
        ["gate", "--reports"],
        ["gameday", "--reports"],
        ["gameday", "--experiments"],
        ["monitor", "--metrics-file"],
        ["restore", "--targets-file"],
    ],
    ids=" ".join,
)
def test_an_empty_path_or_target_option_is_refused_not_taken_as_not_given(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_usage_line([*argv, ""], capsys)
    assert line.endswith(f"error: argument {argv[1]}: must not be empty (see --help)")


@pytest.mark.parametrize(
    ("extra", "ignored"),
    [
        (["--record", "{tmp}/look.json"], "--record"),
        (["--target", "t"], "--target"),
        (
            ["--targets-file", "targets.yaml", "--base-url", "http://127.0.0.1:9"],
            "--targets-file, --base-url",
        ),
    ],
)
def test_from_record_refuses_options_it_would_ignore(
    extra: list[str], ignored: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = SCENARIOS / "docker" / "oom.json"
    given = [part.format(tmp=tmp_path) for part in extra]
    line = one_usage_line(["diagnose", "--from-record", str(record), *given], capsys)
    assert line == f"offgridflow-runbook: error: --from-record judges a saved look; drop {ignored}"
    assert not (tmp_path / "look.json").exists()


@pytest.mark.parametrize("port", ["-1", "70000", "65536", "x", "", "1e3", "٣"])
def test_a_port_out_of_range_is_one_line_and_exit_64(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_usage_line(["gameday", "--operator", f"--port={port}"], capsys)
    assert (
        line
        == f"offgridflow-runbook gameday: error: argument --port: a port 0..65535, not {port!r} (see --help)"
    )


def test_a_port_is_0_only_where_0_means_any() -> None:
    assert port_in(0)("0") == 0
    assert port_in(1)("65535") == 65535
    with pytest.raises(argparse.ArgumentTypeError, match=r"a port 1\.\.65535, not '0'"):
        port_in(1)("0")


def test_a_long_bad_value_is_shown_cut_in_its_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_usage_line(["coverage", "--min-coverage", "9" * 5000], capsys)
    assert line.endswith(f"not {'9' * 80!r}... (5000 characters) (see --help)")


def test_an_error_line_naming_a_huge_value_keeps_its_start_and_end(
    targets: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_usage_line(["drift", "--targets-file", str(targets), "--target", "x" * 100_000], capsys)
    assert len(line) < 1100
    assert line.startswith("offgridflow-runbook: error: unknown target 'xxx")
    assert "characters left out" in line
    assert line.endswith(f"known targets in {targets}: t")


def test_an_unknown_option_is_one_line_with_its_controls_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_usage_line(["diagnose", "--bogus\x1b[2J"], capsys)
    assert line == "offgridflow-runbook: error: unrecognized arguments: --bogus\\x1b[2J (see --help)"


def test_an_error_message_cannot_carry_control_characters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = tmp_path / "t\x1b]0;pwned\x07.yaml"
    line = one_usage_line(["diagnose", "--targets-file", str(hostile)], capsys)
    assert "t\\x1b]0;pwned\\x07.yaml not found" in line


# -- a reader that goes away ---------------------------------------------------------------------------
def closed_pipe_run(*argv: str) -> subprocess.CompletedProcess[bytes]:
    """The console script with its stdout a pipe whose reading end is already closed (``| head`` that
    has gone), so its first write fails with EPIPE whatever the timing."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [str(Path(sys.executable).with_name("offgridflow-runbook")), *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["diagnose", "--from-record", str(SCENARIOS / "docker" / "oom.json")], 2),  # the verdict's code
        (["diagnose", "--from-record", str(SCENARIOS / "docker" / "healthy.json"), "--json"], 0),
        (["coverage"], None),  # its own code, whatever the runbook's coverage is
    ],
)
def test_a_closed_pipe_ends_quietly_with_the_commands_own_exit_code(
    argv: list[str], code: int | None
) -> None:
    result = closed_pipe_run(*argv)
    assert result.stderr == b""
    if code is None:
        assert result.returncode in (0, 1)
    else:
        assert result.returncode == code


def test_a_pipe_closed_after_the_first_line_ends_quietly() -> None:
    # as a user types it: `diagnose ... | head -1`
    script = Path(sys.executable).with_name("offgridflow-runbook")
    record = SCENARIOS / "docker" / "oom.json"
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; '{script}' diagnose --from-record '{record}' | head -1"],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.stdout == b"target:   local\n"
    assert result.stderr == b""
    assert result.returncode == 2
