"""The scripted operator runs the runbook's own commands (read from the runbook file, rendered for the
target), and what each section's commands change is told as that section's change."""

from __future__ import annotations

import pytest

from helpers.operator_fakes import ChangingPlatform
from helpers.scripted_operator import runbook_fix
from offgridflow_runbook.gameday.modes import modes_by_name
from offgridflow_runbook.operator.changes import read_target, section_of_change
from offgridflow_runbook.platforms import Revision
from offgridflow_runbook.runbook.commands import render_commands
from offgridflow_runbook.targets import load_target

LOCAL = load_target("local")
DOCKER_MODES = sorted(name for name, mode in modes_by_name().items() if mode.runs_on("docker"))


def _broken() -> ChangingPlatform:
    """A target with a bad configuration and a bad image rolled out, over a good revision."""
    platform = ChangingPlatform(configuration={"OFFGRIDFLOW_DB_POOL_MAX": "10"})
    platform.history[0] = Revision(
        1, platform.history[0].image, "512Mi", "256Mi", {"OFFGRIDFLOW_DB_POOL_MAX": "10"}
    )
    platform.set_image("127.0.0.1:5000/offgridflow-api:v9.9.9-does-not-exist")
    platform.update_config({"OFFGRIDFLOW_DB_POOL_MAX": "lots"})
    platform.kill_database()
    platform.calls.clear()
    return platform


@pytest.mark.parametrize("mode", DOCKER_MODES)
def test_each_docker_modes_runbook_section_run_by_the_operator_is_seen_as_that_section(mode: str) -> None:
    section = modes_by_name()[mode].fix
    platform = _broken()
    baseline = read_target(platform)
    actions = runbook_fix(section, LOCAL)
    # the lines are the runbook's own, rendered for the target
    assert [line for line, _ in actions] == [
        line for line in render_commands(section, LOCAL) if "(Platform." in line
    ]
    for _line, action in actions:
        action(platform)
    seen = section_of_change(baseline, read_target(platform))
    assert seen is not None, platform.calls
    assert seen[0] == section, (seen, platform.calls)


def test_fix_2_is_run_with_the_runbooks_own_limits() -> None:
    platform = _broken()
    for _line, action in runbook_fix("Fix 2", LOCAL):
        action(platform)
    assert "patch_memory 2Gi 1Gi" in platform.calls
