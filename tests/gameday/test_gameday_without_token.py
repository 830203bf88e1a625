"""A game day in which nothing can run exits non-zero with the reason, never 0 with everything skipped
(a scheduler would read that as a game day that passed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from offgridflow_runbook.targets import load_target

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("target", ["local", "kind"])
def test_without_the_token_the_game_day_stops_with_64_and_says_which_variable(
    target: str, tmp_path: Path
) -> None:
    token_env = load_target(target, ROOT / "targets.yaml").token_env
    environment = {key: value for key, value in os.environ.items() if key != token_env}
    command = [sys.executable, "-m", "pytest", "chaos", "--target", target, "-q", "-p", "no:cacheprovider"]
    result = subprocess.run(
        [*command, "--gameday-reports", str(tmp_path / "reports")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 64, result.stdout + result.stderr
    assert f"${token_env} is not set" in result.stdout + result.stderr
    assert "passed" not in result.stdout
    assert not (tmp_path / "reports").exists()
