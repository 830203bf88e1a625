"""The suite's own run is interruptible however it was started: a run started as a scheduler starts it
(a background job of a shell without job control: SIGINT ignored) still stops on SIGINT, and the
processes its tests start get SIGINT's default (tests/conftest.py, pytest_configure)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

PROBE = Path(__file__).parent / "helpers" / "interruptible_probe.py"


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `cmd &` in a shell without job control


def test_a_run_started_with_sigint_ignored_is_interruptible_and_so_are_the_processes_it_starts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(PROBE), "-q", "-p", "no:cacheprovider"],
        cwd=Path(__file__).parents[1], preexec_fn=_ignore_sigint,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 passed" in result.stdout
