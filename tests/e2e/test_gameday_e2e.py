"""The game day inside the suite's own tests (``make test``): ``pytest chaos --target local`` in a
subprocess, then its scorecard is checked. The stack is the e2e tier's (``local_stack`` brings it up
when it is not running), so the game day never skips for want of an earlier test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.stack_lock import this_process_holds_the_stack_lock
from offgridflow_runbook.environments.local import LOCK_HELD_ENV
from offgridflow_runbook.gameday.modes import load_modes
from offgridflow_runbook.platforms.docker.driver import DockerPlatform

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
GAMEDAY_DEADLINE_S = 900


def test_the_game_day_passes_on_the_local_stack(quiet_api: DockerPlatform, token: str) -> None:
    environment = dict(os.environ) | {"OFFGRIDFLOW_TOKEN": token}
    if this_process_holds_the_stack_lock():
        environment[LOCK_HELD_ENV] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "chaos", "--target", "local", "-p", "no:cacheprovider", "-q"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=GAMEDAY_DEADLINE_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    scorecard = json.loads((ROOT / "reports" / "gameday" / "scorecard.json").read_text())
    docker_modes = [mode.name for mode in load_modes() if mode.runs_on("docker")]
    assert [e["mode"] for e in scorecard["experiments"]] == docker_modes
    assert all(e["status"] == "passed" for e in scorecard["experiments"])
    assert "[gameday] oom" in result.stdout  # the progress lines reach the terminal
