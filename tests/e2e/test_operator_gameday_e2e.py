"""The operator game day on the local Docker stack, played by the scripted operator (tests/helpers/
scripted_operator.py) running the runbook's own commands: per Docker mode one run with the right
call, one run with a wrong first call, one run that lets the SLA share pass so the safety net fixes
it. Each run: ``offgridflow-runbook gameday --operator`` in a subprocess (the fast alert profile of
the e2e stack, a small ``--sla-share``), the operator against its live view, every wait bounded.
The scores are asserted: phase order, right/wrong calls, the fix seen and its section, auto-fix.
Each run starts from the first revision's template (``healthy_api``) under the stack lock."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers.scripted_operator import ScriptedOperator, operator_for, play_operator_gameday
from helpers.stack_lock import this_process_holds_the_stack_lock
from offgridflow_runbook.environments.local import LOCK_HELD_ENV
from offgridflow_runbook.operator.desk import OPERATOR_DIR_ENV, Desk
from offgridflow_runbook.operator.experiments import load_modes
from offgridflow_runbook.operator.phases import PHASES
from offgridflow_runbook.platforms.docker import revisions
from offgridflow_runbook.platforms.docker.driver import DockerPlatform
from offgridflow_runbook.proofs import PROOFS_ENV, read_proofs
from offgridflow_runbook.targets import load_target

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
MODES = load_modes()
DOCKER_MODES = sorted(name for name, mode in MODES.items() if mode.runs_on("docker"))
# the right call must beat the safety net: the fast profile pages within about a minute
RIGHT_SLA_SHARE = 0.7
NET_SLA_SHARE = 0.15  # 45 s of the runbook's 5-minute SLA: before anyone fixes it
RUN_DEADLINE_S = 600.0  # the game day's own --deadline rolls it back before this
DELAYS = (3.0, 3.0, 3.0)  # ack, call, fix: a quick team


def _play(
    tmp_path: Path, mode: str, sla_share: float, make_operator: Any
) -> tuple[dict[str, Any], ScriptedOperator, str]:
    target = load_target("local", ROOT / "targets.yaml")
    desk_dir = tmp_path / "desk"
    reports = tmp_path / "reports"
    environment = dict(os.environ) | {
        "OFFGRIDFLOW_TOKEN": revisions.api_token(),
        OPERATOR_DIR_ENV: str(desk_dir),
        PROOFS_ENV: str(tmp_path / "proofs.jsonl"),
    }
    if this_process_holds_the_stack_lock():
        environment[LOCK_HELD_ENV] = "1"
    desk = Desk(desk_dir)
    operator = make_operator(desk, target)
    command = [
        sys.executable,
        "-c",
        "import sys; from offgridflow_runbook.cli import main; sys.exit(main(sys.argv[1:]))",
        "gameday",
        "--operator",
        "--target",
        "local",
        "--fault",
        mode,
        "--port",
        "0",
        "--sla-share",
        str(sla_share),
        "--deadline",
        str(RUN_DEADLINE_S - 120),
        "--reports",
        str(reports),
    ]
    result = play_operator_gameday(
        command, cwd=ROOT, env=environment, desk=desk, operator=operator, deadline_s=RUN_DEADLINE_S
    )
    output = result.stdout[-4000:] + result.stderr[-2000:]
    card = json.loads((reports / "scorecard.json").read_text())
    [score] = [s for s in card["operator"] if (s["mode"], s["target"]) == (mode, "local")]
    return score, operator, output


def _platform() -> DockerPlatform:
    return DockerPlatform(load_target("local", ROOT / "targets.yaml"))


def _in_order(score: dict[str, Any]) -> None:
    reached = [score["reached_s"][phase] for phase in PHASES]
    assert None not in reached, score["reached_s"]
    assert reached == sorted(reached), score["reached_s"]


@pytest.mark.parametrize("mode", DOCKER_MODES)
def test_the_right_call_and_the_runbooks_fix_pass(
    healthy_api: DockerPlatform, tmp_path: Path, mode: str
) -> None:
    section = MODES[mode].section
    score, operator, output = _play(
        tmp_path,
        mode,
        RIGHT_SLA_SHARE,
        lambda desk, target: operator_for(desk, section, target, _platform, delays=DELAYS),
    )
    assert operator.finished, (operator.ran, output)
    assert score["outcome"] == "passed", output
    _in_order(score)
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
    healthy_api: DockerPlatform, tmp_path: Path
) -> None:
    mode = DOCKER_MODES[0]
    section = MODES[mode].section
    wrong = next(m.section for m in MODES.values() if m.section != section)
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
    _in_order(score)


def test_the_safety_net_fixes_it_once_the_sla_share_passes(
    healthy_api: DockerPlatform, tmp_path: Path
) -> None:
    mode = DOCKER_MODES[0]
    section = MODES[mode].section
    score, _operator, output = _play(
        tmp_path,
        mode,
        NET_SLA_SHARE,
        lambda desk, target: operator_for(desk, section, target, _platform, fix=False, delays=DELAYS),
    )
    assert score["auto_fixed"] is True, output
    assert score["outcome"] == "missed"
    assert score["fix_seen"]["auto"] is True
    assert score["fix_seen"]["section"] == section
    assert score["fix_seen"]["after_fault_s"] >= NET_SLA_SHARE * score["sla_s"]
    assert score["reached_s"]["verified"] is not None
    assert "auto-fixed at" in output
    assert read_proofs(tmp_path / "proofs.jsonl") == []  # a missed run proves nothing
