"""Run by tests/test_interruptible.py (given by path, so never collected on its own): inside a run
started with SIGINT ignored, the suite's conftest has made SIGINT interrupt again, for this process
and for the processes it starts."""

from __future__ import annotations

import signal
import subprocess
import sys

CHILD = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"


def test_sigint_interrupts_this_run_and_reaches_its_children_as_the_default() -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    child = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=30, check=True
    )
    assert child.stdout.strip() == "True"
