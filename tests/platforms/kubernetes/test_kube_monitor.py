"""The synthetic monitor against a Kubernetes target (the HTTP Kubernetes API fake): it judges
Verification 1 from the pods it lists, and lists pods is all it asks the API server."""

from __future__ import annotations

from dataclasses import replace

import pytest

from helpers.kube_fake_environment import KubeFakeEnvironment
from helpers.monitor_fakes import TOKEN, TOKEN_ENV, Recorder, fake_target
from offgridflow_runbook.monitor.checks import run_checks


def test_the_monitor_only_reads_the_kubernetes_api_and_judges_the_pods(
    kube_fake: KubeFakeEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube_fake.seed_runbook_namespace()
    kube_fake.add_api_pod("offgridflow-api-7c9d-1")
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    recorder = Recorder()
    with fake_target(recorder) as api:
        target = replace(
            kube_fake.target,
            base_url=api,
            metrics_url=f"{api}/metrics",
            prometheus_url=api,
            token_env=TOKEN_ENV,
        )
        result = run_checks(target)
    steps = {step.step: step for step in result.steps}
    assert steps["Verification 1"].success, steps["Verification 1"].message
    assert not steps["Verification 1"].skipped
    assert result.success, result.reason
    assert kube_fake.fake.requests, "the fake API server saw nothing: the test could not look"
    assert kube_fake.fake.writes() == []
    # only the pods: no exec of pg_isready, no pod metrics, no endpoints or Ingress (Triage 2's reads)
    assert {request.path for request in kube_fake.fake.requests} == {"/api/v1/namespaces/offgridflow/pods"}
    assert recorder.methods <= {"GET", "HEAD"}
