"""The operator game day on the kind cluster for two modes, played by the scripted operator running
the runbook's own kubectl lines (rendered for the kind target, with the cluster's kubectl and
kubeconfig): the scores are asserted (phase order, the right call, the fix seen and its section)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers.scripted_operator import Stage, assert_phases_in_order, operator_for, play_operator_gameday
from offgridflow_runbook.gameday.modes import load_modes, modes_by_name
from offgridflow_runbook.platforms import platform_for
from offgridflow_runbook.targets import load_target

pytestmark = pytest.mark.kind

ROOT = Path(__file__).parents[2]
MODES = modes_by_name()
# the first kind mode of Fix 2 (kubectl patch) and of Fix 3 (kubectl rollout undo), in the game day's order
KIND_MODES = tuple(
    next(m.name for m in load_modes() if m.runs_on("kubernetes") and m.fix == fix)
    for fix in ("Fix 2", "Fix 3")
)
SLA_SHARE = 0.9
RUN_DEADLINE_S = 900.0


@pytest.mark.parametrize("mode", KIND_MODES)
def test_the_operator_game_day_passes_on_kind(
    kind_session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    assert MODES[mode].runs_on("kubernetes")
    kubeconfig = str(kind_session.settings.kubeconfig)
    stage = Stage(tmp_path, kind_session.api_token(), (("KUBECONFIG", kubeconfig),))
    monkeypatch.setenv("KUBECONFIG", kubeconfig)  # the operator's kubectl and platform reads, in this process
    target = load_target("kind", ROOT / "targets.yaml")
    section = MODES[mode].fix
    kubectl = str(kind_session.cluster.kubectl_path)
    operator = operator_for(stage.desk, section, target, lambda: platform_for(target), kubectl=kubectl)
    score, output = play_operator_gameday(
        stage, "kind", mode, operator, sla_share=SLA_SHARE, deadline_s=RUN_DEADLINE_S
    )
    assert score["outcome"] == "passed", output
    assert_phases_in_order(score)
    assert [(c["section"], c["right"]) for c in score["calls"]] == [(section, True)]
    assert score["fix_seen"]["section"] == section
    assert score["auto_fixed"] is False
