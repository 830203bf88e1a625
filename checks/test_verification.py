"""Runbook 'Verification' steps 1-5. Read-only, except the write path on targets that allow writes."""

from __future__ import annotations

import pytest

from offgridflow_runbook.probes.http import ApiProbe
from offgridflow_runbook.probes.snapshot import Observations
from offgridflow_runbook.pytest_plugin import judge
from offgridflow_runbook.runbook import steps
from offgridflow_runbook.runbook.verification import verification_3_write


@pytest.mark.runbook_step("Verification 1")
def test_all_api_pods_running_with_zero_restarts(runbook_observations: Observations) -> None:
    judge(steps.verification_1_pods(runbook_observations))


@pytest.mark.runbook_step("Verification 2")
def test_health_ready_is_healthy(runbook_observations: Observations) -> None:
    judge(steps.verification_2_ready(runbook_observations))


@pytest.mark.runbook_step("Verification 3")
def test_activities_answer_with_the_token(runbook_observations: Observations) -> None:
    judge(steps.verification_3_activities(runbook_observations))


@pytest.mark.runbook_step("Verification 3")
def test_activity_write_path(api_probe: ApiProbe) -> None:
    judge(verification_3_write(api_probe))


@pytest.mark.runbook_step("Verification 4")
def test_metrics_expose_http_requests_total(runbook_observations: Observations) -> None:
    judge(steps.verification_4_metrics(runbook_observations))


@pytest.mark.runbook_step("Verification 5")
def test_error_rate_below_one_percent(runbook_observations: Observations) -> None:
    judge(steps.verification_5_error_rate(runbook_observations))


@pytest.mark.runbook_step("Verification 5")
def test_no_runbook_alert_firing(runbook_observations: Observations) -> None:
    judge(steps.verification_5_alerts(runbook_observations))
