"""``drift`` against the real kind cluster: the runbook's read-only kubectl and curl lines run with
the cluster's kubeconfig and context. The kind overlay generates ``offgridflow-config-<hash>``, so the
runbook's ``kubectl get configmap offgridflow-config`` (Fix 3) names a ConfigMap that does not exist:
that, and only that, is drift."""

from __future__ import annotations

import time

import pytest

from offgridflow_runbook.platforms import platform_for
from offgridflow_runbook.runbook import load_runbook
from offgridflow_runbook.runbook.drift import Outcome, drift

pytestmark = pytest.mark.kind


def test_the_hashed_configmap_is_the_runbooks_only_drift_on_kind(kind_session):
    target = kind_session.target(kind_session.settings.config_file.parent / "targets.yaml")
    runbook = load_runbook()
    configmap = next(c for c in runbook.commands if c.argv[:3] == ("kubectl", "get", "configmap"))
    # `kubectl top` answers "metrics not available yet" for pods younger than two scrapes (an earlier
    # test rolled them out): wait, bounded, until metrics-server lists every API pod
    platform = platform_for(target)
    try:
        # `kubectl rollout status` (Quick Fix, Fix 3) waits on a rollout an earlier test may have left
        # running: drift reads the cluster at rest, so wait for that first (bounded)
        platform.wait_rollout(timeout=240)
        deadline = time.monotonic() + 180
        while len(platform.resource_usage()) < len(platform.api_workloads()) and time.monotonic() < deadline:
            time.sleep(5)
    finally:
        platform.close()
    # the session's kubectl (ours from tools/cluster, or the one it was given)
    report = drift(runbook, target, kubectl=str(kind_session.cluster.kubectl_path), timeout=30)
    summary = report.table()
    drifted = [r.command.line for r in report.results if r.outcome == Outcome.DRIFT]
    assert drifted == [configmap.line], summary
    unknown = [r.command.line for r in report.results if r.outcome == Outcome.UNKNOWN]
    # without $OFFGRIDFLOW_TOKEN, Verification 3's authorized call cannot be made: unknown, not passed
    without_token = [] if target.token else [runbook.step("Verification 3").commands[0].line]
    assert unknown == without_token, summary
    assert report.exit_code == 1  # drift wins over unknown
    assert all(r.outcome == Outcome.NOT_RUN for r in report.results if not r.command.read_only)
