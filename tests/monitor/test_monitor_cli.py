"""``offgridflow-runbook monitor`` as users run it: --once for schedulers, bad input, and the real
command in a subprocess stopped by SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from helpers.monitor_fakes import TOKEN, TOKEN_ENV, Recorder
from offgridflow_runbook.cli import EXIT_USAGE, main

COMMAND = "import sys; from offgridflow_runbook.cli import main; sys.exit(main())"
DEADLINE = 20.0
STOP_S = 10.0  # a clean stop: the server closes (it polls every 0.5 s), the log line, exit


def monitor_args(targets_file: Path, *extra: str) -> list[str]:
    return ["monitor", "--target", "fake", "--targets-file", str(targets_file), *extra]


def test_once_passes_on_a_healthy_target_and_writes_the_metrics_file(
    targets_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    metrics = tmp_path / "monitor.prom"
    assert main(monitor_args(targets_file, "--once", "--metrics-file", str(metrics))) == 0
    out = capsys.readouterr().out
    assert "Verification 3 passed" in out
    assert re.search(r"^run passed in \d+\.\d\ds$", out, re.MULTILINE)
    assert 'offgridflow_synthetic_run_success{target="fake"} 1' in metrics.read_text(encoding="utf-8")
    assert TOKEN not in out


def test_once_fails_with_1_naming_the_step_when_a_step_fails(
    targets_file: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder.activities_status = 503
    assert main(monitor_args(targets_file, "--once")) == 1
    out = capsys.readouterr().out
    assert "Verification 3 failed" in out
    assert "run failed" in out


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--listen", "localhost", "is not HOST:PORT"),
        ("--listen", "127.0.0.1:99999", "is not HOST:PORT"),
        ("--every", "soon", "is not a duration"),
        ("--every", "0s", "is not a duration"),
        ("--metrics-file", "", "argument --metrics-file: must not be empty"),
    ],
)
def test_bad_options_are_one_line_and_exit_64(
    targets_file: Path, option: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(monitor_args(targets_file, option, value))
    assert exit_info.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_metrics_file_without_once_is_refused_not_ignored(
    targets_file: Path, tmp_path: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(monitor_args(targets_file, "--metrics-file", str(tmp_path / "m.prom"))) == EXIT_USAGE
    assert capsys.readouterr().err == (
        "offgridflow-runbook: error: --metrics-file is written with --once only; add --once or drop it\n"
    )
    assert recorder.requests == []  # refused before the target was looked at


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (lambda tmp: tmp, "Is a directory"),
        (lambda tmp: tmp / "gone" / "monitor.prom", "No such file or directory"),
        (lambda tmp: Path("/dev/full"), "not a regular file (a device, pipe or socket)"),
    ],
    ids=["a directory", "under a missing directory", "a device"],
)
def test_a_metrics_file_that_cannot_be_written_is_one_line_and_exit_73(
    targets_file: Path,
    tmp_path: Path,
    where: Callable[[Path], Path],
    says: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = where(tmp_path)
    assert main(monitor_args(targets_file, "--once", "--metrics-file", str(metrics))) == 73
    captured = capsys.readouterr()
    assert "run passed" in captured.out  # the run's own lines came first
    assert (
        captured.err.splitlines()[-1]
        == f"offgridflow-runbook: error: --metrics-file {metrics}: cannot write: {says}"
    )
    assert "Traceback" not in captured.err


def test_an_unknown_target_is_one_line_and_exit_64(
    targets_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["monitor", "--target", "nope", "--targets-file", str(targets_file), "--once"]) == EXIT_USAGE
    assert "unknown target 'nope'" in capsys.readouterr().err


def test_a_listen_address_in_use_is_one_line_and_exit_69(
    targets_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(monitor_args(targets_file, "--listen", f"127.0.0.1:{port}")) == 69
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


def _environment() -> dict[str, str]:
    return {**os.environ, TOKEN_ENV: TOKEN}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_real_command_serves_metrics_and_stops_cleanly_on_a_signal(
    targets_file: Path, sig: signal.Signals
) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            COMMAND,
            *monitor_args(targets_file, "--every", "60s", "--listen", "127.0.0.1:0"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    ) as process:
        assert process.stderr is not None
        stderr = process.stderr
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(stderr.readline, "")), daemon=True)
        reader.start()
        try:
            until = time.monotonic() + DEADLINE
            url = None
            while url is None and time.monotonic() < until:
                url = next(
                    (m.group(1) for line in lines if (m := re.search(r'"url": "([^"]+)"', line))), None
                )
                time.sleep(0.05)
            assert url is not None, f"no listening line: {lines}"
            text = ""
            while 'run_success{target="fake"} 1' not in text and time.monotonic() < until:
                text = httpx.get(f"{url}/metrics", timeout=5).text
                time.sleep(0.1)
            assert 'run_success{target="fake"} 1' in text
            # the signal lands in the 60 s wait after the first run: it must end the wait, not outlast it
            signalled = time.monotonic()
            process.send_signal(sig)
            assert process.wait(timeout=DEADLINE) == 0
            assert time.monotonic() - signalled < STOP_S
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=DEADLINE)
        reader.join(timeout=5)
    assert any('"event": "stopped"' in line for line in lines), lines
    assert not any("Traceback" in line for line in lines), lines


def test_once_needs_none_of_pytest_chaos_or_matplotlib(targets_file: Path) -> None:
    """What the monitor's image leaves out: the command must not import it."""
    blocked = ("pytest", "_pytest", "chaoslib", "chaostoolkit", "matplotlib", "docker", "kubernetes")
    code = (
        "import sys\n"
        "class Block:\n"
        f"    names = {blocked!r}\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in self.names:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n" + COMMAND.replace("; ", "\n")
    )
    result = subprocess.run(
        [sys.executable, "-c", code, *monitor_args(targets_file, "--once")],
        capture_output=True,
        text=True,
        timeout=60,
        env=_environment(),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "run passed" in result.stdout
