"""The fault ledger on the kind cluster: ``chaos run`` killed with SIGKILL during the fault of oom,
bad-image, bad-config and bad-config-in-place leaves its entry open, and ``offgridflow-runbook
restore --target kind`` brings Verification 1-5 back with no acknowledged write lost
(tests/helpers/sigkill_restore.py). db-kill is not in the matrix here: the StatefulSet replaces the
killed pod by itself before anything could be restored (db-crash-loop is its Kubernetes outage)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers.sigkill_restore import ROOT, kill_during_the_fault_then_restore, sigkill_modes

pytestmark = pytest.mark.kind


@pytest.mark.parametrize("mode", sigkill_modes("kubernetes"))
def test_a_chaos_run_killed_during_the_fault_is_restored_on_kind(
    mode: str, kind_session, private_fault_ledger: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = dict(os.environ) | {
        "OFFGRIDFLOW_TOKEN": kind_session.api_token(),
        "KUBECONFIG": str(kind_session.settings.kubeconfig),
        "OFFGRIDFLOW_LEDGER_DIR": str(private_fault_ledger),
    }
    monkeypatch.setenv("OFFGRIDFLOW_TOKEN", environment["OFFGRIDFLOW_TOKEN"])  # this process's writer
    kill_during_the_fault_then_restore(
        mode, kind_session.target(ROOT / "targets.yaml"), environment, tmp_path / "runs"
    )
