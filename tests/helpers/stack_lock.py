"""Whether this pytest process holds the stack lock (a child taking it again would wait for us forever)."""

from __future__ import annotations

import os
from pathlib import Path

from offgridflow_runbook.environments.local import STACK_LOCK


def this_process_holds_the_stack_lock() -> bool:
    """Whether this pytest session (e.g. the e2e stack fixture) holds the stack lock already."""
    if not STACK_LOCK.exists():
        return False
    inode = STACK_LOCK.stat().st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].endswith(f":{inode}"):
            return fields[4] == str(os.getpid())
    return False
