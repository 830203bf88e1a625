"""The safety guard: on a target without allow_chaos, every action refuses before touching anything."""

from __future__ import annotations

from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from helpers.chaos_fakes import RecordingPlatform
from offgridflow_runbook.chaos import ACTIONS, activity, faults, steady_state
from offgridflow_runbook.gameday.events import EventLog

CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("memory_assault", {"mib": 700}),
    ("ensure_memory_limit", {}),
    ("kill_database", {}),
    ("crash_database_repeatedly", {"times": 2}),
    ("set_image", {"tag": "v0.0.0"}),
    ("update_config", {"key": "OFFGRIDFLOW_DB_POOL_MAX", "value": "lots"}),
    ("use_in_place_config", {}),
    ("use_hashed_config", {}),
    ("restore_config", {}),
    ("fix_1_restart_database_then_api", {}),
    ("fix_2_patch_memory", {}),
    ("fix_3_rollout_undo", {}),
    ("fix_4_set_known_good_image", {}),
    ("start_background_writer", {}),
]


@pytest.mark.parametrize(("name", "arguments"), CHANGES, ids=[name for name, _ in CHANGES])
@pytest.mark.parametrize("target", ["production", "staging"])
def test_action_on_a_target_without_chaos_is_refused_and_changes_nothing(
    name: str,
    arguments: dict[str, Any],
    target: str,
    fake_platform: RecordingPlatform,
    configuration: dict[str, str],
) -> None:
    action = activity(name)
    with pytest.raises(ActivityFailed, match=rf"target '{target}' does not allow chaos"):
        action(target=target, configuration=configuration, **arguments)
    assert fake_platform.calls == []
    assert fake_platform.opened_for == []  # type: ignore[attr-defined]
    assert EventLog.for_configuration(configuration).read() == []


def test_every_changing_action_is_covered_by_the_guard_test() -> None:
    stopping_only = {"stop_background_writer"}
    assert {name for name, _ in CHANGES} == ACTIONS - stopping_only


def test_chaos_allowed_follows_the_profile(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    assert steady_state.chaos_allowed("local", configuration=configuration) is True
    assert steady_state.chaos_allowed("production", configuration=configuration) is False


def test_unknown_target_is_a_one_line_activity_failure(configuration: dict[str, str]) -> None:
    with pytest.raises(ActivityFailed, match="unknown target 'nowhere'"):
        faults.kill_database(target="nowhere", configuration=configuration)
