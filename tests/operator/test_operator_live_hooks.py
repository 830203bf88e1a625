"""The live hooks go through the chaos activities themselves: the guard, the identity check and the
fault ledger apply to the operator game day's fault and to its safety net's fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from helpers.operator_fakes import ChangingPlatform
from offgridflow_runbook.gameday.modes import modes_by_name
from offgridflow_runbook.ledger import Ledger
from offgridflow_runbook.operator.desk import Desk
from offgridflow_runbook.operator.session import live_hooks
from offgridflow_runbook.runbook.commands import known_good_tag
from offgridflow_runbook.targets import load_target

MODES = modes_by_name()


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> ChangingPlatform:
    fake = ChangingPlatform()
    # the chaos extension opens its platform through its context (as tests/chaos replace it), the
    # readings through platforms.platform_for
    monkeypatch.setattr("offgridflow_runbook.chaos._context.platform_for", lambda target: fake)
    monkeypatch.setattr("offgridflow_runbook.platforms.platform_for", lambda target: fake)
    return fake


def _experiment_argument(mode: str, func: str, name: str) -> str:
    document = json.loads(MODES[mode].path.read_text())
    [step] = [s for s in document["method"] if s["provider"].get("func") == func]
    return str(step["provider"]["arguments"][name])


def test_the_fault_and_the_safety_nets_fix_are_the_chaos_activities(
    tmp_path: Path, platform: ChangingPlatform
) -> None:
    desk = Desk(tmp_path / "d")
    hooks = live_hooks(
        MODES["bad-image"], load_target("local"), tmp_path / "run", desk, quiet_deadline_s=None
    )
    hooks.inject()
    bad_tag = _experiment_argument("bad-image", "set_image", "tag")
    assert platform.calls[-1].endswith(f":{bad_tag}")
    [entry] = Ledger().entries("local")  # the fault ledger, written before the change
    assert entry.mode == "bad-image"
    events = (tmp_path / "run" / "bad-image" / "events.jsonl").read_text()
    assert "fault_at" in events
    assert "identity" in events  # the guard read what answers before the change
    before = hooks.reading()
    hooks.auto_fix()
    assert platform.calls[-2].endswith(f":{known_good_tag()}")  # Fix 4, then its rollout wait
    assert hooks.reading() != before
    hooks.settle()
    assert Ledger().entries("local") == []


def test_a_target_that_forbids_chaos_is_refused_before_anything_changes(
    tmp_path: Path, platform: ChangingPlatform
) -> None:
    hooks = live_hooks(MODES["bad-image"], load_target("staging"), tmp_path / "run", Desk(tmp_path / "d"))
    with pytest.raises(ActivityFailed, match="allow_chaos"):
        hooks.inject()
    assert platform.calls == []
    assert Ledger().entries() == []
