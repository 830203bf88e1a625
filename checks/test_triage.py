"""Runbook 'Triage': 1 (confirm the issue) and 2A-2D (identify the root cause). Read-only."""

from __future__ import annotations

import pytest

from offgridflow_runbook.probes.snapshot import Observations
from offgridflow_runbook.pytest_plugin import judge
from offgridflow_runbook.runbook import steps


@pytest.mark.runbook_step("Triage 1")
def test_api_answers_health_live(runbook_observations: Observations) -> None:
    judge(steps.triage_1_live(runbook_observations))


@pytest.mark.runbook_step("Triage 1")
def test_api_pods_are_listed_with_status_and_restarts(runbook_observations: Observations) -> None:
    judge(steps.triage_1_pods(runbook_observations))


@pytest.mark.runbook_step("Triage 2A")
def test_api_is_not_crash_looping(runbook_observations: Observations) -> None:
    judge(steps.triage_2a_crash_loop(runbook_observations))


@pytest.mark.runbook_step("Triage 2B")
def test_database_answers_from_the_api_side(runbook_observations: Observations) -> None:
    judge(steps.triage_2b_database(runbook_observations))


@pytest.mark.runbook_step("Triage 2C")
def test_resource_limits_are_set_and_not_exhausted(runbook_observations: Observations) -> None:
    judge(steps.triage_2c_resources(runbook_observations))


@pytest.mark.runbook_step("Triage 2D")
def test_traffic_reaches_the_api(runbook_observations: Observations) -> None:
    judge(steps.triage_2d_network(runbook_observations))
