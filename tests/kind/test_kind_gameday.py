"""One game-day mode on the real kind cluster inside ``make test``: the OOM experiment, through
``pytest chaos --target kind`` as a user runs it, with its own reports folder. The whole game day on
kind is ``make gameday TARGET=kind`` (about 20 minutes; docs/kind-offline.md has its figures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.stack_lock import this_process_holds_the_stack_lock
from offgridflow_runbook.environments.local import LOCK_HELD_ENV

pytestmark = pytest.mark.kind

ROOT = Path(__file__).parents[2]
DEADLINE_S = 600


def test_the_oom_mode_passes_on_kind_and_pages_from_kube_state_metrics(kind_session, tmp_path: Path) -> None:
    environment = dict(os.environ) | {
        "OFFGRIDFLOW_TOKEN": kind_session.api_token(),
        "KUBECONFIG": str(kind_session.settings.kubeconfig),
    }
    if this_process_holds_the_stack_lock():
        environment[LOCK_HELD_ENV] = "1"
    reports = tmp_path / "gameday"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "chaos",
        "--target",
        "kind",
        "-k",
        "oom",
        "-p",
        "no:cacheprovider",
    ]
    result = subprocess.run(
        [*command, "-q", "--gameday-reports", str(reports)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    scorecard = json.loads((reports / "scorecard.json").read_text())
    assert (scorecard["platform"], [e["mode"] for e in scorecard["experiments"]]) == ("kubernetes", ["oom"])
    oom = scorecard["experiments"][0]
    assert oom["status"] == "passed", oom["failures"]
    # the page comes from kube-state-metrics' last terminated reason, through Alertmanager's route
    assert (oom["page"]["alert"], oom["page"]["receiver"]) == ("OffGridFlowAPIOOMKilled", "primary-oncall")
    assert oom["diagnosis"]["section"] == "Fix 2"
    assert (reports / "oom-postmortem.md").is_file()
    assert (reports / "index.html").is_file()
