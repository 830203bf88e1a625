"""The runbook's reads and one fix against the real kind cluster (skipped where kind cannot run)."""

from __future__ import annotations

import time

import pytest

from helpers.kind_pods import settled
from offgridflow_runbook.platforms import platform_for
from offgridflow_runbook.runbook.triage import Cause, diagnose
from offgridflow_runbook.runbook.verification import verify

pytestmark = pytest.mark.kind


@pytest.fixture(scope="module")
def kind_target(kind_session):
    return kind_session.target(kind_session.settings.config_file.parent / "targets.yaml")


@pytest.fixture(scope="module")
def kind_platform(kind_target):
    platform = platform_for(kind_target)
    yield platform
    platform.close()


def test_api_pods_are_running_ready_without_restarts(kind_platform):
    # the HorizontalPodAutoscaler may be adding pods (after a game day's load): those get a bounded
    # while to become ready; a pod that restarted stays a failure
    kind_platform.wait_rollout(timeout=180)
    deadline = time.monotonic() + 120
    workloads = kind_platform.api_workloads()
    while not all(w.ready for w in workloads) and time.monotonic() < deadline:
        time.sleep(2)
        workloads = kind_platform.api_workloads()
    assert workloads, "no offgridflow-api pods"
    for workload in workloads:
        assert (workload.phase, workload.ready, workload.restart_count) == ("Running", True, 0), workload


def test_rollout_is_complete(kind_platform):
    status = kind_platform.rollout_status()
    assert status.complete, status.message


def test_database_is_reachable_from_the_api_pod(kind_platform):
    kind_platform.wait_database_ready(timeout=120)
    result = kind_platform.pg_isready()
    assert result.exit_code == 0, result.output


def test_service_has_ready_endpoints_and_an_ingress(kind_platform):
    network = kind_platform.network()
    assert network.ready_endpoints >= 1, network.detail
    assert network.ingresses


def test_metrics_server_answers_kubectl_top(kind_platform):
    # metrics-server lists a pod only after two scrapes of it; on a cluster made minutes ago the
    # API pods can be younger than that, so wait (bounded) instead of reading once
    deadline = time.monotonic() + 180
    usages = kind_platform.resource_usage()
    while len(usages) < len(kind_platform.api_workloads()) and time.monotonic() < deadline:
        time.sleep(5)
        usages = kind_platform.resource_usage()
    assert usages, "metrics-server listed no offgridflow-api pod within 180 s"
    assert all(u.memory_bytes > 0 and u.memory_limit_bytes for u in usages)


def test_restart_rolls_out_and_keeps_the_api_healthy(kind_platform):
    kind_platform.rollout_restart()
    status = kind_platform.wait_rollout(timeout=180)
    assert status.complete, status.message
    workloads = settled(kind_platform)
    assert len(workloads) == 2, workloads
    assert all(w.ready for w in workloads), workloads


def test_the_runbooks_verification_passes_on_the_fresh_cluster(kind_target, kind_platform):
    # after the restart test: the old ReplicaSet's pods must be gone before the runbook's "all pods"
    kind_platform.wait_rollout(timeout=180)
    settled(kind_platform)
    report = verify(kind_target, kind_platform)
    assert report.passed, [f"{s.step}: {s.message}" for s in report.failures]


def test_diagnose_finds_the_fresh_cluster_healthy(kind_target, kind_platform):
    diagnosis = diagnose(kind_target, kind_platform)
    assert diagnosis.cause is Cause.HEALTHY, diagnosis
