"""The pager's own path, runbook-agnostic: a synthetic check that cannot page has failed at its one job.

Alertmanager (``alertmanager_url``) must answer ``/api/v2/status`` and the alert receiver
(``alert_receiver_url``) ``GET /deliveries``; a target that declares neither skips this check.
"""

from __future__ import annotations

from offgridflow_runbook.probes.snapshot import Observations
from offgridflow_runbook.pytest_plugin import judge
from offgridflow_runbook.runbook import steps


def test_pages_can_be_delivered(runbook_observations: Observations) -> None:
    judge(steps.pages_deliverable(runbook_observations))
