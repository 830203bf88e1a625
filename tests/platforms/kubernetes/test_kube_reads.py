"""The Kubernetes platform's reads, through the real client, against seeded failure modes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from helpers.kube_fake_environment import CONFIG_ERROR_LOG, PULL_ERROR
from offgridflow_runbook.platforms import Platform, PlatformError, platform_for
from offgridflow_runbook.platforms.kubernetes.driver import KubernetesPlatform

GIB = 1024**3
MIB = 1024**2


@pytest.fixture
def seeded(kube_fake):
    kube_fake.seed_runbook_namespace()
    return kube_fake


def _by_name(workloads):
    return {w.name: w for w in workloads}


def test_platform_for_a_kubernetes_target_is_the_kubernetes_driver(seeded):
    platform = platform_for(seeded.target)
    try:
        assert isinstance(platform, KubernetesPlatform)
        assert isinstance(platform, Platform)
        assert platform.kind == "kubernetes"
    finally:
        platform.close()


def test_oom_killed_pod_maps_to_a_termination_with_exit_137(seeded):
    seeded.oom_killed_pod("api-oom")
    workload = _by_name(seeded.platform().api_workloads())["api-oom"]
    assert workload.restart_count == 3
    assert workload.last_termination is not None
    assert workload.last_termination.oom_killed
    assert workload.last_termination.exit_code == 137
    assert workload.last_termination.finished_at == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert workload.memory_limit_bytes == 512 * MIB
    assert workload.memory_request_bytes == 256 * MIB
    assert workload.cpu_limit_millicores == 500
    assert workload.ready
    assert workload.phase == "Running"


def test_image_pull_backoff_keeps_the_registry_message(seeded):
    seeded.image_pull_backoff_pod("api-bad-image")
    workload = _by_name(seeded.platform().api_workloads())["api-bad-image"]
    assert workload.waiting_reason == "ImagePullBackOff"
    assert workload.waiting_message == PULL_ERROR
    assert "Failed to pull image" in (workload.waiting_message or "")
    assert workload.image.endswith(":v9.9.9")
    assert not workload.ready
    assert workload.phase == "Pending"


def test_crash_loop_shows_the_config_error_in_the_previous_logs_only(seeded):
    seeded.crash_looping_pod("api-bad-config")
    seeded.add_api_pod("api-healthy")
    platform = seeded.platform()
    workload = _by_name(platform.api_workloads())["api-bad-config"]
    assert workload.waiting_reason == "CrashLoopBackOff"
    assert workload.last_termination is not None
    assert workload.last_termination.exit_code == 78
    assert not workload.last_termination.oom_killed
    previous = platform.api_logs(previous=True)
    assert previous == {"api-bad-config": CONFIG_ERROR_LOG}
    assert "invalid configuration" in previous["api-bad-config"]
    assert "invalid configuration" not in platform.api_logs(previous=False).get("api-bad-config", "")


def test_pending_pod_without_container_status(seeded):
    seeded.pending_pod("api-pending")
    workload = _by_name(seeded.platform().api_workloads())["api-pending"]
    assert workload.phase == "Pending"
    assert not workload.ready
    assert workload.restart_count == 0
    assert workload.waiting_reason is None
    assert workload.last_termination is None


def test_only_pods_labelled_with_the_app_are_workloads(seeded):
    seeded.add_api_pod("api-1")
    seeded.add_api_pod("other", app="something-else")
    platform = seeded.platform()
    assert [w.name for w in platform.api_workloads()] == ["api-1"]
    assert [w.name for w in platform.database_workloads()] == ["postgres-0"]
    assert platform.database_workloads()[0].image == "postgres:15"


def test_logs_are_tailed_to_the_last_lines(seeded):
    seeded.add_api_pod("api-1")
    seeded.set_log("api-1", "".join(f"line {n}\n" for n in range(150)))
    logs = seeded.platform().api_logs(tail=100)["api-1"].splitlines()
    assert len(logs) == 100
    assert logs[0] == "line 50"
    assert logs[-1] == "line 149"


def test_database_logs_come_from_the_postgres_container(seeded):
    seeded.set_log("postgres-0", "database system is ready to accept connections\n", container="postgres")
    assert "ready to accept connections" in seeded.platform().database_logs(tail=50)
    request = seeded.fake.find("GET", "/pods/postgres-0/log")[-1]
    assert request.params == {"container": "postgres", "tailLines": "50"}


def test_events_oldest_first_and_filtered_by_since(seeded):
    seeded.add_event("e2", reason="OOMKilled", message="killed", at="2026-01-01T00:02:00Z", involved="api-1")
    seeded.add_event(
        "e1", reason="Pulled", message="pulled", at="2026-01-01T00:01:00Z", involved="api-1", type="Normal"
    )
    seeded.add_event("e3", reason="BackOff", message="back-off", at="2026-01-01T00:03:00Z", involved="api-2")
    platform = seeded.platform()
    assert [e.reason for e in platform.events()] == ["Pulled", "OOMKilled", "BackOff"]
    since = datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    later = platform.events(since=since)
    assert [(e.reason, e.type, e.involved) for e in later] == [
        ("OOMKilled", "Warning", "api-1"),
        ("BackOff", "Warning", "api-2"),
    ]
    naive = platform.events(since=since.replace(tzinfo=None))  # read as UTC, like the API's times
    assert [e.reason for e in naive] == ["OOMKilled", "BackOff"]


def test_top_reads_the_metrics_api_with_each_limit(seeded):
    seeded.add_api_pod("api-1")
    seeded.add_pod_metrics("api-1", memory="300Mi", cpu="250m")
    [usage] = seeded.platform().resource_usage()
    assert usage.name == "api-1"
    assert usage.memory_bytes == 300 * MIB
    assert usage.cpu_millicores == pytest.approx(250.0)
    assert usage.memory_limit_bytes == 512 * MIB


def test_top_without_metrics_server_says_so(seeded):
    with pytest.raises(PlatformError, match=r"metrics API.*metrics-server"):
        seeded.platform().resource_usage()


def test_network_counts_ready_and_not_ready_endpoints(seeded):
    status = seeded.platform().network()
    assert status.ingresses == ("offgridflow-api",)
    assert (status.ready_endpoints, status.not_ready_endpoints) == (1, 1)
    seeded.fake.objects.pop(("api/v1", "endpoints", "offgridflow", "offgridflow-api-service"))
    missing = seeded.platform().network()
    assert (missing.ready_endpoints, missing.not_ready_endpoints) == (0, 0)
    assert "no Endpoints" in missing.detail


def test_network_says_what_the_service_selects_and_how_many_api_pods_match(seeded):
    status = seeded.platform().network()
    assert status.service_selector == (("app", "offgridflow-api"),)
    assert status.selected_pods == len(seeded.platform().api_workloads())
    service = seeded.fake.get("api/v1", "services", "offgridflow-api-service")
    service["spec"]["selector"]["offgridflow.io/chaos"] = "network"
    broken = seeded.platform().network()
    assert broken.service_selector == (("app", "offgridflow-api"), ("offgridflow.io/chaos", "network"))
    assert broken.selected_pods == 0


def test_a_service_that_cannot_be_read_leaves_the_selection_unknown_not_empty(seeded):
    seeded.fake.objects.pop(("api/v1", "services", "offgridflow", "offgridflow-api-service"))
    status = seeded.platform().network()
    assert (status.service_selector, status.selected_pods) == (None, None)
    assert (status.ready_endpoints, status.not_ready_endpoints) == (1, 1)  # the endpoints still count
    assert "selector unreadable" in status.detail
    with pytest.raises(PlatformError, match="service offgridflow-api-service not found"):
        seeded.platform().api_service_selector()


def test_config_reads_the_configmap_the_deployment_uses(kube_fake):
    kube_fake.seed_runbook_namespace(hashed_config=True)
    platform = kube_fake.platform()
    assert platform.config() == {"OFFGRIDFLOW_DB_POOL_MAX": "10", "OFFGRIDFLOW_LOG_LEVEL": "INFO"}
    assert platform.config_scheme() == "hashed"
    assert kube_fake.fake.find("GET", "/configmaps/offgridflow-config-aaaaaaaaaa")


def test_rollout_history_lists_revisions_with_image_and_memory(seeded):
    history = seeded.platform().rollout_history()
    assert [(r.number, r.image.rsplit(":", 1)[1], r.memory_limit) for r in history] == [
        (1, "v1.2.3", "512Mi"),
        (2, "v1.3.0", "512Mi"),
    ]
    assert history[0].config["OFFGRIDFLOW_DB_POOL_MAX"] == "10"


def test_pg_isready_runs_in_an_api_pod_over_the_exec_websocket(seeded):
    seeded.add_api_pod("api-1")
    command = ("pg_isready", "-h", "postgres-service", "-p", "5432")
    seeded.fake.exec_results[command] = (2, "postgres-service:5432 - no response\n")
    result = seeded.platform().pg_isready()
    assert result.command == command
    assert result.exit_code == 2
    assert "no response" in result.output
    seeded.fake.exec_results[command] = (0, "postgres-service:5432 - accepting connections\n")
    assert seeded.platform().pg_isready().exit_code == 0


def test_pg_isready_without_a_running_api_pod_says_so(seeded):
    seeded.pending_pod("api-pending")
    with pytest.raises(PlatformError, match="no running offgridflow-api pod"):
        seeded.platform().pg_isready()


def test_reads_during_an_exec_are_not_sent_down_the_websocket(seeded):
    seeded.add_api_pod("api-1")
    seeded.fake.exec_seconds = 0.5
    platform = seeded.platform()
    with ThreadPoolExecutor(max_workers=2) as pool:
        exec_result = pool.submit(platform.pg_isready)
        time.sleep(0.1)  # let the exec open its websocket first
        network = pool.submit(platform.network)
        assert network.result(timeout=10).ready_endpoints == 1
        assert exec_result.result(timeout=10).exit_code == 0


def test_logs_skip_a_container_still_waiting_to_start(seeded):
    seeded.image_pull_backoff_pod("api-bad-image")
    seeded.add_api_pod("api-healthy")
    seeded.set_log("api-healthy", "serving\n")
    assert seeded.platform().api_logs() == {"api-healthy": "serving\n"}
    [refused] = seeded.fake.find("GET", "/pods/api-bad-image/log")
    assert refused.params == {"container": "api", "tailLines": "100"}


@pytest.mark.parametrize(
    "text",
    [
        '{"level": "error", "event": "invalid configuration", "key": "OFFGRIDFLOW_DB_POOL_MAX"}\n',
        "42\n",
        "",
        "caf\u00e9 \u2013 not JSON\n",
    ],
)
def test_logs_come_back_exactly_as_written(seeded, text):
    seeded.crash_looping_pod("api-1")
    seeded.set_log("api-1", text, previous=True)
    assert seeded.platform().api_logs(previous=True) == {"api-1": text}
