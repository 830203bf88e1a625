"""A real SIGINT or SIGTERM sent to the gate's process while the candidate rolls out: the gate rolls
back what it changed, then exits 130 (the command in a process of its own, on the rolling fake
platform and the fake API, as in test_gate.py)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers.gate_fakes import GOOD, TOKEN, TOKEN_ENV

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent

# The child: the fake platform is what the command opens; it prints what the platform went through.
CHILD = """
import json, sys
sys.path.insert(0, {tests!r})
from helpers.gate_fakes import MISSING, RollingPlatform, serving_api, targets_yaml
from offgridflow_runbook import platforms
from offgridflow_runbook.cli import main

platform = RollingPlatform()
platforms.platform_for = lambda target: platform
with serving_api(platform) as url:
    with open({targets!r}, "w") as handle:
        handle.write(targets_yaml(url))
    code = main(["gate", "--target", "fake", "--targets-file", {targets!r}, "--image", MISSING,
                 "--checks-dir", {checks!r}, "--reports", {reports!r}, "--rollout-timeout", "120"])
print(json.dumps({{"code": code, "calls": platform.calls, "template": platform.template}}))
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_rollout_rolls_back_then_exits_130(signum: int, tmp_path: Path) -> None:
    child = CHILD.format(
        tests=str(TESTS), targets=str(tmp_path / "targets.yaml"), checks=str(ROOT / "checks"),
        reports=str(tmp_path / "reports"),
    )  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-c", child], env={**os.environ, TOKEN_ENV: TOKEN},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output = process.stdout
    assert output is not None
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in output], daemon=True)
    reader.start()
    try:
        seen = ""
        while "waiting for the rollout" not in seen:
            seen = lines.get(timeout=60)  # the first progress line: the candidate is rolling out
        process.send_signal(signum)
        process.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        output.close()
    assert process.returncode == 0  # the child printed the command's exit code itself
    printed = []
    while not lines.empty():
        printed.append(lines.get())
    result = json.loads(printed[-1])
    assert result["code"] == 130
    assert result["calls"].count("rollout_undo") == 1
    assert result["template"] == GOOD
    verdict = json.loads((tmp_path / "reports" / "gate.json").read_text())
    assert (verdict["interrupted"], verdict["rollback"]["passed"]) == (True, True)
