"""The fault ledger on the local Docker stack: ``chaos run`` killed with SIGKILL during the fault of
each Docker mode leaves its entry open, and ``offgridflow-runbook restore --target local`` brings
Verification 1-5 back with no acknowledged write lost (tests/helpers/sigkill_restore.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.sigkill_restore import ROOT, kill_during_the_fault_then_restore, sigkill_modes
from offgridflow_runbook.platforms.docker.driver import DockerPlatform
from offgridflow_runbook.targets import load_target

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("mode", sigkill_modes("docker"))
def test_a_chaos_run_killed_during_the_fault_is_restored(
    mode: str,
    quiet_api: DockerPlatform,
    token: str,
    private_fault_ledger: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = dict(os.environ) | {
        "OFFGRIDFLOW_TOKEN": token,
        "OFFGRIDFLOW_LEDGER_DIR": str(private_fault_ledger),
    }
    monkeypatch.setenv("OFFGRIDFLOW_TOKEN", token)  # this process's own writer and Verification
    kill_during_the_fault_then_restore(
        mode, load_target("local", ROOT / "targets.yaml"), environment, tmp_path / "runs"
    )
