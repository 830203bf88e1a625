"""`diagnose` and the checks' steps over the HTTP Kubernetes API fake, with the real `kubernetes`
client in the real KubernetesPlatform: one test per runbook cause, seeded as a cluster shows it."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from helpers.kube_fake_environment import KubeFakeEnvironment
from offgridflow_runbook.cli import main
from offgridflow_runbook.probes import record
from offgridflow_runbook.probes.snapshot import look
from offgridflow_runbook.runbook import steps
from offgridflow_runbook.runbook.triage import NOT_COVERED, Cause, diagnose

PG_ISREADY = ("pg_isready", "-h", "postgres-service", "-p", "5432")


@pytest.fixture
def cluster(kube_fake: KubeFakeEnvironment) -> KubeFakeEnvironment:
    kube_fake.seed_runbook_namespace()
    kube_fake.add_api_pod("offgridflow-api-7d9f-abcde")
    kube_fake.add_pod_metrics("offgridflow-api-7d9f-abcde", memory="120Mi", cpu="20m")
    return kube_fake


def diagnosis_for(cluster: KubeFakeEnvironment, base_url: str = "http://127.0.0.1:9") -> Any:
    target = dataclasses.replace(cluster.target, base_url=base_url, metrics_url=None, prometheus_url=None)
    return diagnose(target, cluster.platform())


@pytest.mark.integration
def test_healthy_cluster_and_api_is_healthy(cluster: KubeFakeEnvironment, api_server: Any) -> None:
    diagnosis = diagnosis_for(cluster, api_server.base_url)
    assert (diagnosis.cause, diagnosis.exit_code) == (Cause.HEALTHY, 0), diagnosis


def test_image_pull_backoff_is_fix_4(cluster: KubeFakeEnvironment) -> None:
    cluster.image_pull_backoff_pod()
    diagnosis = diagnosis_for(cluster)
    assert (diagnosis.cause, diagnosis.section) == (Cause.IMAGE_PULL, "Fix 4")
    assert any("v9.9.9" in line and "ImagePullBackOff" in line for line in diagnosis.evidence)
    assert any(
        c.startswith("kubectl set image deployment/offgridflow-api -n offgridflow --context kube-fake api=")
        and c.endswith(":v1.2.3")
        for c in diagnosis.commands
    )


def test_oom_killed_pod_is_fix_2(cluster: KubeFakeEnvironment) -> None:
    cluster.oom_killed_pod()
    diagnosis = diagnosis_for(cluster)
    assert (diagnosis.cause, diagnosis.section) == (Cause.OOM, "Fix 2")
    assert any("OOMKilled (exit 137)" in line for line in diagnosis.evidence)


def test_crash_loop_with_invalid_configuration_in_previous_logs_is_fix_3(
    cluster: KubeFakeEnvironment,
) -> None:
    cluster.crash_looping_pod()
    diagnosis = diagnosis_for(cluster)
    assert (diagnosis.cause, diagnosis.section) == (Cause.CONFIG_ERROR, "Fix 3"), diagnosis
    assert any(
        "previous logs of offgridflow-api-badconfig" in line and "lots" in line for line in diagnosis.evidence
    )


def test_pg_isready_failing_inside_the_api_pod_is_fix_1(cluster: KubeFakeEnvironment) -> None:
    cluster.fake.exec_results[PG_ISREADY] = (2, "postgres-service:5432 - no response\n")
    pod = cluster.fake.objects[("api/v1", "pods", "offgridflow", "postgres-0")]
    pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]  # the database itself is down
    pod["status"]["containerStatuses"][0]["ready"] = False
    diagnosis = diagnosis_for(cluster)
    assert (diagnosis.cause, diagnosis.section) == (Cause.DATABASE, "Fix 1"), diagnosis
    assert any("no response" in line for line in diagnosis.evidence)


def test_pg_isready_failing_with_the_database_pod_ready_is_the_path_not_fix_1(
    cluster: KubeFakeEnvironment,
) -> None:
    cluster.fake.exec_results[PG_ISREADY] = (2, "postgres-service:5432 - no response\n")
    diagnosis = diagnosis_for(cluster)
    assert (diagnosis.cause, diagnosis.section) == (Cause.DATABASE_PATH, NOT_COVERED), diagnosis


def test_crash_loop_without_config_error_is_the_quick_fix(cluster: KubeFakeEnvironment) -> None:
    cluster.crash_looping_pod()
    cluster.set_log("offgridflow-api-badconfig", "Traceback: something else\n", previous=True)
    diagnosis = diagnosis_for(cluster)
    assert (diagnosis.cause, diagnosis.section) == (Cause.CRASH_LOOP, "Quick Fix"), diagnosis


def test_a_crash_whose_previous_logs_kubelet_cannot_find_is_not_a_confident_quick_fix(
    cluster: KubeFakeEnvironment,
) -> None:
    # kubelet answers 200 with this text when the log file is gone (seen on kind after a restart)
    cluster.crash_looping_pod()
    gone = "unable to retrieve container logs for containerd://9a0b2762e46b813a43073f5b82bf5b22f386231f"
    cluster.set_log("offgridflow-api-badconfig", gone, previous=True)
    diagnosis = diagnosis_for(cluster)
    # the crash is real, but without the previous logs its cause is a guess, and says so
    assert diagnosis.summary.startswith("tentative, could not see previous logs"), diagnosis.summary
    assert any(
        reading.source == "previous logs" and "unable to retrieve container logs" in reading.detail
        for reading in diagnosis.unknowns
    ), diagnosis.unknowns


def test_memory_near_the_limit_is_resource_exhaustion(cluster: KubeFakeEnvironment) -> None:
    cluster.add_pod_metrics("offgridflow-api-7d9f-abcde", memory="500Mi", cpu="20m")
    diagnosis = diagnosis_for(cluster)
    assert (diagnosis.cause, diagnosis.section) == (Cause.RESOURCES, "Fix 2"), diagnosis


def test_missing_ingress_is_a_network_problem(cluster: KubeFakeEnvironment) -> None:
    cluster.fake.objects.pop(
        ("apis/networking.k8s.io/v1", "ingresses", "offgridflow", "offgridflow-api"), None
    )
    observations = look(dataclasses.replace(cluster.target, metrics_url=None), cluster.platform())
    network = steps.triage_2d_network(observations)
    assert network.failed, network
    assert "no Ingress in namespace offgridflow" in network.message


def test_oom_event_in_the_namespace_is_an_oom(cluster: KubeFakeEnvironment) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    cluster.add_event(
        "oom-1",
        reason="OOMKilling",
        message="Memory cgroup out of memory: Killed process",
        at=now,
        involved="offgridflow-api-7d9f-abcde",
    )
    assert diagnosis_for(cluster).cause is Cause.OOM


def test_a_refused_exec_is_unknown_never_a_database_failure(cluster: KubeFakeEnvironment) -> None:
    cluster.fake.exec_refused = 403
    diagnosis = diagnosis_for(cluster)
    assert diagnosis.section != "Fix 1", diagnosis
    unknown = {reading.source: reading.detail for reading in diagnosis.unknowns}
    assert "403 Forbidden" in unknown["pg_isready"]


def test_diagnose_records_a_kubernetes_look_that_reads_back_to_the_same_verdict(
    cluster: KubeFakeEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster.oom_killed_pod()
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        "targets:\n  cluster:\n    platform: kubernetes\n    base_url: http://127.0.0.1:9\n"
        f"    kubeconfig: {cluster.kubeconfig}\n    kube_context: kube-fake\n"
    )
    saved = tmp_path / "look.json"
    argv = ["diagnose", "--target", "cluster", "--targets-file", str(targets), "--json"]
    assert main([*argv, "--record", str(saved)]) == 2
    live = json.loads(capsys.readouterr().out)
    assert live["candidates"][0]["section"] == "Fix 2"
    observations, _ = record.load(saved)
    assert any(w.name == "offgridflow-api-oom" for w in observations.api_workloads.value or [])
    assert main(["diagnose", "--from-record", str(saved), "--json"]) == 2
    assert json.loads(capsys.readouterr().out) == live
