"""The operator game day on the kind cluster for two modes, played by the scripted operator running
the runbook's own kubectl lines (rendered for the kind target, with the cluster's kubectl and
kubeconfig): the scores are asserted (phase order, the right call, the fix seen and its section)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers.scripted_operator import operator_for, play_operator_gameday
from helpers.stack_lock import this_process_holds_the_stack_lock
from offgridflow_runbook.environments.local import LOCK_HELD_ENV
from offgridflow_runbook.operator.desk import OPERATOR_DIR_ENV, Desk
from offgridflow_runbook.operator.experiments import load_modes
from offgridflow_runbook.operator.phases import PHASES
from offgridflow_runbook.platforms import platform_for
from offgridflow_runbook.proofs import PROOFS_ENV
from offgridflow_runbook.targets import load_target

pytestmark = pytest.mark.kind

ROOT = Path(__file__).parents[2]
MODES = load_modes()
KIND_MODES = ("oom", "bad-config")  # Fix 2 (kubectl patch) and Fix 3 (kubectl rollout undo)
SLA_SHARE = 0.9
RUN_DEADLINE_S = 900.0


@pytest.mark.parametrize("mode", KIND_MODES)
def test_the_operator_game_day_passes_on_kind(
    kind_session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    assert MODES[mode].runs_on("kubernetes")
    kubeconfig = str(kind_session.settings.kubeconfig)
    environment = dict(os.environ) | {
        "OFFGRIDFLOW_TOKEN": kind_session.api_token(),
        "KUBECONFIG": kubeconfig,
        OPERATOR_DIR_ENV: str(tmp_path / "desk"),
        PROOFS_ENV: str(tmp_path / "proofs.jsonl"),
    }
    if this_process_holds_the_stack_lock():
        environment[LOCK_HELD_ENV] = "1"
    monkeypatch.setenv("KUBECONFIG", kubeconfig)  # the operator's kubectl and platform reads, in this process
    target = load_target("kind", ROOT / "targets.yaml")
    section = MODES[mode].section
    desk = Desk(tmp_path / "desk")
    operator = operator_for(
        desk,
        section,
        target,
        lambda: platform_for(target),
        delays=(5.0, 5.0, 5.0),
        kubectl=str(kind_session.cluster.kubectl_path),
    )
    reports = tmp_path / "reports"
    command = [
        sys.executable,
        "-c",
        "import sys; from offgridflow_runbook.cli import main; sys.exit(main(sys.argv[1:]))",
        "gameday",
        "--operator",
        "--target",
        "kind",
        "--fault",
        mode,
        "--port",
        "0",
        "--sla-share",
        str(SLA_SHARE),
        "--deadline",
        str(RUN_DEADLINE_S - 200),
        "--reports",
        str(reports),
    ]
    result = play_operator_gameday(
        command, cwd=ROOT, env=environment, desk=desk, operator=operator, deadline_s=RUN_DEADLINE_S
    )
    output = result.stdout[-4000:] + result.stderr[-2000:]
    [score] = json.loads((reports / "scorecard.json").read_text())["operator"]
    assert score["outcome"] == "passed", output
    reached = [score["reached_s"][phase] for phase in PHASES]
    assert None not in reached, score["reached_s"]
    assert reached == sorted(reached)
    assert [(c["section"], c["right"]) for c in score["calls"]] == [(section, True)]
    assert score["fix_seen"]["section"] == section
    assert score["auto_fixed"] is False
