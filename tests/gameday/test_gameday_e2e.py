"""The game day inside the suite's own tests (``make test``): ``pytest chaos --target local`` in a
subprocess, then its scorecard is checked. Skips with the reason when the local stack is not up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from helpers.stack_lock import this_process_holds_the_stack_lock
from offgridflow_runbook.environments.local import LOCK_HELD_ENV
from offgridflow_runbook.gameday.modes import load_modes

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
GAMEDAY_DEADLINE_S = 900


def _token() -> str | None:
    state = Path(os.environ.get("OFFGRIDFLOW_STATE_DIR") or ROOT / ".state")
    token_file = state / "local-token"
    if os.environ.get("OFFGRIDFLOW_TOKEN"):
        return os.environ["OFFGRIDFLOW_TOKEN"]
    return token_file.read_text().strip() if token_file.exists() else None


def test_the_game_day_passes_on_the_local_stack(tmp_path: Path) -> None:
    try:
        ready = httpx.get("http://127.0.0.1:8080/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        ready = False
    token = _token()
    if not ready or token is None:
        pytest.skip("the local stack is not up and ready (make up); the game day needs it")
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
