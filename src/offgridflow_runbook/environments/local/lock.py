"""The stack lock: whoever brings the local stack up or down, or changes it, holds it exclusively.

It is the lock ``flock /tmp/offgridflow-stack.lock <command>`` takes (the Makefile's stack targets),
so shell users, test sessions and game days never change the stack at the same time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from offgridflow_runbook.environments.local.preflight import StackError

STACK_LOCK = Path("/tmp/offgridflow-stack.lock")  # noqa: S108 - the path every flock(1) user shares
LOCK_HELD_ENV = "OFFGRIDFLOW_STACK_LOCK_HELD"
DEFAULT_DEADLINE_SECONDS = 900.0


@contextlib.contextmanager
def file_lock(path: Path, deadline_seconds: float) -> Iterator[None]:
    """Hold ``flock(path)``, waiting at most ``deadline_seconds`` (StackError after that)."""
    with path.open("a") as handle:
        deadline = time.monotonic() + deadline_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StackError(f"{path} stayed locked for {deadline_seconds:.0f}s") from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def stack_lock(deadline_seconds: float = DEFAULT_DEADLINE_SECONDS) -> Iterator[None]:
    """Hold the stack lock; ``OFFGRIDFLOW_STACK_LOCK_HELD=1`` says the caller holds it already.

    Raises StackError when another holder keeps it past the deadline.
    """
    if os.environ.get(LOCK_HELD_ENV) == "1":
        yield
        return
    with file_lock(STACK_LOCK, deadline_seconds):
        yield
