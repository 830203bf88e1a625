"""The operator game day on the local Docker stack, played by the scripted operator (tests/helpers/
scripted_operator.py) running the runbook's own commands: per Docker mode one run with the right
call, one run with a wrong first call, one run that lets the SLA share pass so the safety net fixes
it. Each run: ``offgridflow-runbook gameday --operator`` in a subprocess (the fast alert profile of
the e2e stack, a small ``--sla-share``), the operator against its live view, every wait bounded.
The scores are asserted: phase order, right/wrong calls, the fix seen and its section, auto-fix.
Each run starts from the first revision's template (``quiet_api``) under the stack lock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers.scripted_operator import (
    ScriptedOperator,
    Stage,
    assert_phases_in_order,
    operator_for,
    play_operator_gameday,
)
from offgridflow_runbook.gameday.modes import modes_by_name
from offgridflow_runbook.platforms.docker import revisions
from offgridflow_runbook.platforms.docker.driver import DockerPlatform
from offgridflow_runbook.proofs import read_proofs
from offgridflow_runbook.runbook.document import load_runbook
from offgridflow_runbook.targets import load_target

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
MODES = modes_by_name()
# the modes a team can fix from the runbook: one whose fix the runbook lacks (network: Triage 2D, no
# Fix section) can only end with the safety net, which the safety-net test below plays
RUNBOOK_FIXES = {step.id for step in load_runbook().steps if step.kind == "fix"}
DOCKER_MODES = sorted(
    name for name, mode in MODES.items() if mode.runs_on("docker") and mode.fix in RUNBOOK_FIXES
)
# the right call must beat the safety net: the fast profile pages within about a minute
RIGHT_SLA_SHARE = 0.7
NET_SLA_SHARE = 0.08  # 24 s of the runbook's 5-minute SLA: after the page (about 5 s), nobody fixing
RUN_DEADLINE_S = 600.0  # the game day's own --deadline rolls it back before this
DELAYS = (1.0, 1.0, 1.0)  # ack, call, fix: a quick team (each move still after the one before)


def _play(
    tmp_path: Path, mode: str, sla_share: float, make_operator: Any
) -> tuple[dict[str, Any], ScriptedOperator, str]:
    stage = Stage(tmp_path, revisions.api_token())
    operator = make_operator(stage.desk, load_target("local", ROOT / "targets.yaml"))
    score, output = play_operator_gameday(
        stage,
        "local",
        mode,
        operator,
        sla_share=sla_share,
        deadline_s=RUN_DEADLINE_S,
        rollback_margin_s=120.0,
    )
    return score, operator, output


def _platform() -> DockerPlatform:
    return DockerPlatform(load_target("local", ROOT / "targets.yaml"))


@pytest.mark.parametrize("mode", DOCKER_MODES)
def test_the_right_call_and_the_runbooks_fix_pass(
    quiet_api: DockerPlatform, tmp_path: Path, mode: str
) -> None:
    section = MODES[mode].fix
    score, operator, output = _play(
        tmp_path,
        mode,
        RIGHT_SLA_SHARE,
        lambda desk, target: operator_for(desk, section, target, _platform, delays=DELAYS),
    )
    assert operator.finished, (operator.ran, output)
    assert score["outcome"] == "passed", output
    assert_phases_in_order(score)
    assert [(c["section"], c["right"]) for c in score["calls"]] == [(section, True)]
    assert score["fix_seen"]["section"] == section
    assert score["fix_seen"]["auto"] is False
    assert score["auto_fixed"] is False
    assert score["page"] is not None
    assert any(note["text"] for note in score["notes"])
    proofs = read_proofs(tmp_path / "proofs.jsonl")
    assert [(p.kind, p.mode, p.target) for p in proofs] == [("operator", mode, "local")]
    assert section in proofs[0].steps


def test_a_wrong_first_call_is_scored_and_the_right_one_timed(
    quiet_api: DockerPlatform, tmp_path: Path
) -> None:
    mode = DOCKER_MODES[0]
    section = MODES[mode].fix
    wrong = next(m.fix for m in MODES.values() if m.fix != section)
    score, _operator, output = _play(
        tmp_path,
        mode,
        RIGHT_SLA_SHARE,
        lambda desk, target: operator_for(desk, section, target, _platform, wrong_first=wrong, delays=DELAYS),
    )
    assert [(c["section"], c["right"]) for c in score["calls"]] == [(wrong, False), (section, True)], output
    assert score["wrong_calls"] == 1
    assert score["time_to_first_right_call_s"] == score["calls"][1]["after_fault_s"]
    assert score["outcome"] == "passed", output
    assert_phases_in_order(score)


def test_the_safety_net_fixes_it_once_the_sla_share_passes(quiet_api: DockerPlatform, tmp_path: Path) -> None:
    mode = DOCKER_MODES[0]
    section = MODES[mode].fix
    score, _operator, output = _play(
        tmp_path,
        mode,
        NET_SLA_SHARE,
        lambda desk, target: operator_for(desk, section, target, _platform, fix=False, delays=DELAYS),
    )
    assert score["auto_fixed"] is True, output
    assert score["page"] is not None, "the safety net came before the page: nothing was detected"
    assert score["outcome"] == "missed"
    assert score["fix_seen"]["auto"] is True
    assert score["fix_seen"]["section"] == section
    assert score["fix_seen"]["after_fault_s"] >= NET_SLA_SHARE * score["sla_s"]
    assert score["reached_s"]["verified"] is not None
    assert "auto-fixed at" in output
    assert read_proofs(tmp_path / "proofs.jsonl") == []  # a missed run proves nothing
