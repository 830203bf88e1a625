"""``offgridflow-runbook drift`` against the real local stack, run as a user runs it: the runbook's
curl lines answer with the shapes it expects, its kubectl lines are not applicable on Docker (never
passed), and nothing that changes the stack is run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from offgridflow_runbook.platforms.docker.driver import DockerPlatform
from offgridflow_runbook.runbook import load_runbook
from offgridflow_runbook.runbook.allowlist import NotReadOnly, read_only

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_the_runbooks_read_only_commands_match_the_healthy_local_stack(
    healthy_api: DockerPlatform, token: str
) -> None:
    before = [w.started_at for w in healthy_api.api_workloads()]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("offgridflow-runbook")), "drift", "--target", "local",
         "--targets-file", str(ROOT / "targets.yaml"), "--json"],
        env={**os.environ, "OFFGRIDFLOW_TOKEN": token}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert token not in result.stdout + result.stderr
    report = json.loads(result.stdout)
    outcomes = {(r["line"], r["command"]): r["outcome"] for r in report["results"]}
    runbook = load_runbook()
    for command in runbook.commands:
        try:
            read_only(command.text)
        except NotReadOnly:
            expected = "not run"  # not on drift's allowlist (changing lines, kubectl exec)
        else:
            expected = "passed" if command.program == "curl" else "not applicable"
        assert outcomes[(command.line, command.text)] == expected, (command, report)
    assert result.returncode == 0, result.stdout
    # read-only: the API container was not replaced or restarted by the drift run
    assert [w.started_at for w in healthy_api.api_workloads()] == before
