"""The triage tree, branch by branch and in its order, on fabricated platform and HTTP states."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from helpers.triage_fakes import (
    FakeHttp,
    FakePlatform,
    api_pod,
    crashed,
    event,
    look,
    make_target,
    oom,
)
from offgridflow_runbook.platforms import (
    CommandResult,
    Event,
    NetworkStatus,
    PlatformError,
    RolloutStatus,
    Usage,
    Workload,
)
from offgridflow_runbook.runbook.evidence import Seen, Signal
from offgridflow_runbook.runbook.triage import Cause, Outcome, decide

CONFIG_LINE = (
    '{"level": "error", "event": "invalid configuration", "key": "OFFGRIDFLOW_DB_POOL_MAX", "value": "lots"}'
)
PG_DOWN = CommandResult(
    ("pg_isready", "-h", "postgres-service", "-p", "5432"), 2, "postgres-service:5432 - no response"
)
UNREACHABLE = httpx.ConnectError("[Errno 111] Connection refused")
# What a database that is down shows beside pg_isready's "no response": its pod is not ready. (With the
# pod seen ready, "no response" is the path to it, not the database: see the contradiction tests.)
DB_NOT_READY = [Workload("postgres-0", "postgres", "Running", False, 0, "postgres:15")]


def diagnose_fake(
    platform: FakePlatform | None, rules: Path, http: FakeHttp | None = None, kind: str = "kubernetes"
):
    target = make_target(kind if platform is not None else "none")
    return decide(look(target, http, platform, rules=rules))


def test_healthy_target_is_diagnosed_healthy_with_exit_0(rules: Path) -> None:
    diagnosis = diagnose_fake(FakePlatform(), rules)
    assert (diagnosis.cause, diagnosis.section, diagnosis.exit_code) == (Cause.HEALTHY, "none", 0)
    assert diagnosis.commands == []


def test_image_pull_failure_names_fix_4_and_the_known_good_tag(rules: Path) -> None:
    platform = FakePlatform(
        api=[api_pod(waiting_reason="ImagePullBackOff", waiting_message="manifest unknown", ready=False)]
    )
    diagnosis = diagnose_fake(platform, rules)
    assert (diagnosis.cause, diagnosis.section, diagnosis.exit_code) == (Cause.IMAGE_PULL, "Fix 4", 2)
    assert any("manifest unknown" in line for line in diagnosis.evidence)
    assert (
        "kubectl set image deployment/offgridflow-api -n offgridflow --context kind-unit "
        "api=127.0.0.1:5000/offgridflow-api:v1.2.3"
    ) in diagnosis.commands


def test_failed_to_pull_image_event_alone_is_an_image_pull_failure(rules: Path) -> None:
    platform = FakePlatform(event_list=[event("Failed", 'Failed to pull image "x:v9": not found')])
    assert diagnose_fake(platform, rules).cause is Cause.IMAGE_PULL


def test_pull_failure_event_before_the_running_instance_started_is_history(rules: Path) -> None:
    started = datetime.now(UTC) - timedelta(minutes=5)
    old = event("Failed", 'Failed to pull image "x:v9": manifest unknown')
    old = dataclasses.replace(old, at=started - timedelta(minutes=1))
    recent_oom = dataclasses.replace(
        event("OOMKilled", "container api was OOMKilled"), at=started + timedelta(seconds=1)
    )
    platform = FakePlatform(api=[api_pod(started_at=started)], event_list=[old])
    assert diagnose_fake(platform, rules).cause is Cause.HEALTHY
    platform.event_list.append(recent_oom)
    assert diagnose_fake(platform, rules).cause is Cause.OOM


def test_pull_failure_event_of_a_pod_that_is_gone_is_history(rules: Path) -> None:
    # After Fix 4 or a rollout undo the failing pod is deleted; its events stay for an hour.
    gone = dataclasses.replace(
        event("Failed", 'Failed to pull image "x:v9": manifest unknown'), involved="gone-1"
    )
    platform = FakePlatform(
        api=[api_pod(started_at=datetime.now(UTC) - timedelta(minutes=5))], event_list=[gone]
    )
    assert diagnose_fake(platform, rules).cause is Cause.HEALTHY
    platform.event_list.append(event("Failed", 'Failed to pull image "x:v9": manifest unknown'))
    assert diagnose_fake(platform, rules).cause is Cause.IMAGE_PULL


def test_events_older_than_an_hour_are_not_weighed_but_counted_and_mentioned(rules: Path) -> None:
    stale = dataclasses.replace(event("OOMKilled", "OOMKilled"), at=datetime.now(UTC) - timedelta(hours=2))
    diagnosis = diagnose_fake(FakePlatform(event_list=[stale]), rules)
    assert diagnosis.cause is Cause.HEALTHY
    assert any("1 event(s) older than --since 1h not weighed" in line for line in diagnosis.evidence)


def test_several_causes_are_all_candidates_in_the_runbooks_order(rules: Path) -> None:
    platform = FakePlatform(
        api=[api_pod(waiting_reason="ErrImagePull"), api_pod("offgridflow-api-2", **oom())],
        previous_logs={"offgridflow-api-2": CONFIG_LINE},
    )
    diagnosis = diagnose_fake(platform, rules)
    assert diagnosis.sections == ["Fix 2", "Fix 3", "Fix 4"]
    assert diagnosis.section == "Fix 2"
    assert any("ErrImagePull" in reading.detail for reading in diagnosis.candidates[2].evidence)


def test_oom_killed_names_fix_2_with_the_2gi_patch(rules: Path) -> None:
    diagnosis = diagnose_fake(FakePlatform(api=[api_pod(**oom())]), rules)
    assert (diagnosis.cause, diagnosis.section) == (Cause.OOM, "Fix 2")
    assert any("OOMKilled (exit 137)" in line for line in diagnosis.evidence)
    assert any('"limits":{"memory":"2Gi"},"requests":{"memory":"1Gi"}' in c for c in diagnosis.commands)


def test_oom_event_alone_is_an_oom(rules: Path) -> None:
    platform = FakePlatform(event_list=[event("OOMKilled", "container api was OOMKilled")])
    assert diagnose_fake(platform, rules).cause is Cause.OOM


def test_oom_wins_over_config_error(rules: Path) -> None:
    platform = FakePlatform(
        api=[api_pod(**oom(restarts=2))], previous_logs={"offgridflow-api-1": CONFIG_LINE}
    )
    assert diagnose_fake(platform, rules).cause is Cause.OOM


def test_crash_loop_with_invalid_configuration_names_fix_3_and_rollout_undo(rules: Path) -> None:
    platform = FakePlatform(
        api=[api_pod(**crashed(exit_code=78))],
        previous_logs={"offgridflow-api-1": f"starting\n{CONFIG_LINE}"},
    )
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=UNREACHABLE, ready=UNREACHABLE))
    assert (diagnosis.cause, diagnosis.section) == (Cause.CONFIG_ERROR, "Fix 3")
    assert any(
        "OFFGRIDFLOW_DB_POOL_MAX" in line and "previous logs of offgridflow-api-1" in line
        for line in diagnosis.evidence
    )
    assert (
        "kubectl rollout undo deployment/offgridflow-api -n offgridflow --context kind-unit"
        in diagnosis.commands
    )


def test_database_and_config_error_together_list_fix_1_first(rules: Path) -> None:
    platform = FakePlatform(
        api=[api_pod(**crashed(exit_code=78))],
        previous_logs={"offgridflow-api-1": CONFIG_LINE},
        pg_ready=PG_DOWN,
        database=DB_NOT_READY,
    )
    assert diagnose_fake(platform, rules).sections == ["Fix 1", "Fix 3"]


def test_invalid_configuration_in_old_logs_of_a_healthy_api_is_not_a_config_error(rules: Path) -> None:
    platform = FakePlatform(previous_logs={"offgridflow-api-1": CONFIG_LINE})
    assert diagnose_fake(platform, rules).cause is Cause.HEALTHY


def test_pg_isready_failing_names_fix_1(rules: Path) -> None:
    diagnosis = diagnose_fake(FakePlatform(pg_ready=PG_DOWN, database=DB_NOT_READY), rules)
    assert (diagnosis.cause, diagnosis.section) == (Cause.DATABASE, "Fix 1")
    assert any("no response" in line for line in diagnosis.evidence)
    assert (
        "kubectl wait --for=condition=ready pod -l app=postgres -n offgridflow --context kind-unit"
        " --timeout=300s" in diagnosis.commands
    )


def test_the_api_log_line_naming_the_database_shows_its_reason_not_its_preamble(rules: Path) -> None:
    # Recorded on kind (scenarios/kind/db-too-many-connections.json): pg_isready accepts and postgres
    # is ready; only the API's log says why, at the end of a long JSON line.
    line = (
        '{"ts": "2026-12-01T04:40:45.276+00:00", "level": "warning", "logger": "offgridflow_api.db", '
        '"event": "database unavailable, retrying", "attempt": 7, "retry_in_seconds": 4.58, '
        '"reason": "connection failed: connection to server at \\"10.96.120.201\\", port 5432 failed: '
        'FATAL:  remaining connection slots are reserved for non-replication superuser connections"}'
    )
    diagnosis = diagnose_fake(FakePlatform(logs={"offgridflow-api-1": line}), rules)
    assert diagnosis.sections == ["Fix 1"]
    assert diagnosis.evidence[0].startswith(
        "offgridflow-api-1: database unavailable, retrying: connection failed"
    )
    assert "remaining connection slots are reserved" in diagnosis.evidence[0]
    assert "(at 2026-12-01T04:40:45.276+00:00)" in diagnosis.evidence[0]


def test_database_wins_over_a_crash_loop_it_causes(rules: Path) -> None:
    platform = FakePlatform(api=[api_pod(**crashed())], pg_ready=PG_DOWN, database=DB_NOT_READY)
    assert diagnose_fake(platform, rules).cause is Cause.DATABASE


def test_readiness_naming_the_database_is_a_database_failure_without_platform(rules: Path) -> None:
    http = FakeHttp(
        ready=(503, {"status": "unhealthy", "checks": {"database": "unavailable"}, "reason": "timeout"})
    )
    diagnosis = diagnose_fake(None, rules, http)
    assert (diagnosis.cause, diagnosis.section) == (Cause.DATABASE, "Fix 1")


def test_other_crash_loop_names_the_quick_fix(rules: Path) -> None:
    platform = FakePlatform(
        api=[api_pod(**crashed(exit_code=1))], previous_logs={"offgridflow-api-1": "Traceback\nboom"}
    )
    diagnosis = diagnose_fake(platform, rules)
    assert (diagnosis.cause, diagnosis.section) == (Cause.CRASH_LOOP, "Quick Fix")
    assert "last terminated Error (exit 1)" in diagnosis.summary
    assert (
        "kubectl rollout restart deployment/offgridflow-api -n offgridflow --context kind-unit"
        in diagnosis.commands
    )


def test_failed_pods_with_an_unreachable_api_are_a_crash_not_unreachable(rules: Path) -> None:
    platform = FakePlatform(api=[api_pod(phase="Failed", ready=False, restart_count=0)])
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=UNREACHABLE, ready=UNREACHABLE))
    assert diagnosis.cause is Cause.CRASH_LOOP


def test_no_api_instance_at_all_is_unreachable_even_with_the_database_down(rules: Path) -> None:
    platform = FakePlatform(api=[], pg_ready=PG_DOWN, database=DB_NOT_READY)
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=UNREACHABLE, ready=UNREACHABLE))
    assert (diagnosis.cause, diagnosis.section, diagnosis.exit_code) == (Cause.UNREACHABLE, "Triage 1", 3)
    assert diagnosis.evidence[0].startswith("no API pods/containers (app=offgridflow-api): ")
    assert diagnosis.sections == ["Triage 1", "Fix 1"]


def test_memory_near_the_limit_is_resource_exhaustion_fix_2(rules: Path) -> None:
    platform = FakePlatform(usage=[Usage("offgridflow-api-1", int(0.95 * 512 * 2**20), 10.0, 512 * 2**20)])
    diagnosis = diagnose_fake(platform, rules)
    assert (diagnosis.cause, diagnosis.section) == (Cause.RESOURCES, "Fix 2")
    assert "95%" in diagnosis.summary


def test_memory_below_ninety_percent_is_healthy(rules: Path) -> None:
    platform = FakePlatform(usage=[Usage("offgridflow-api-1", int(0.89 * 512 * 2**20), 10.0, 512 * 2**20)])
    assert diagnose_fake(platform, rules).cause is Cause.HEALTHY


def test_cpu_at_the_limit_is_resource_exhaustion(rules: Path) -> None:
    platform = FakePlatform(usage=[Usage("offgridflow-api-1", 2**20, 495.0, 512 * 2**20)])
    assert diagnose_fake(platform, rules).cause is Cause.RESOURCES


def test_missing_ingress_on_kubernetes_is_a_network_problem(rules: Path) -> None:
    diagnosis = diagnose_fake(FakePlatform(net=NetworkStatus((), 1, 0)), rules)
    assert (diagnosis.cause, diagnosis.section) == (Cause.NETWORK, "Triage 2D")
    assert (
        "kubectl get endpoints -n offgridflow --context kind-unit offgridflow-api-service"
        in diagnosis.commands
    )


def test_no_ready_endpoints_is_a_network_problem(rules: Path) -> None:
    diagnosis = diagnose_fake(FakePlatform(net=NetworkStatus(("offgridflow-api",), 0, 2)), rules)
    assert diagnosis.cause is Cause.NETWORK


def test_endpoints_none_ready_because_every_api_pod_is_not_ready_is_triage_1_not_2d(rules: Path) -> None:
    # A hung API on the kind cluster (scenarios/kind/api-hung-not-ready.json): kubelet's readiness probe
    # times out, the pods turn not ready, the Service lists them as not-ready endpoints and its NodePort
    # refuses. The Service routes to the pods; they do not answer: Triage 1, not a network fault.
    platform = FakePlatform(
        api=[api_pod("offgridflow-api-1", ready=False), api_pod("offgridflow-api-2", ready=False)],
        net=NetworkStatus(("offgridflow-api",), 0, 2),
    )
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=UNREACHABLE, ready=UNREACHABLE))
    assert (diagnosis.outcome, diagnosis.sections) == (Outcome.UNREACHABLE, ["Triage 1"])
    assert any("2 endpoint(s), none ready: its API pods are not ready" in line for line in diagnosis.evidence)


def test_no_ingress_is_still_triage_2d_while_the_api_pods_are_not_ready(rules: Path) -> None:
    platform = FakePlatform(api=[api_pod(ready=False)], net=NetworkStatus((), 0, 1))
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=UNREACHABLE, ready=UNREACHABLE))
    assert diagnosis.sections == ["Triage 2D"]
    assert "no Ingress in namespace offgridflow" in diagnosis.summary


BROKEN_SELECTOR = (("app", "offgridflow-api"), ("offgridflow.io/chaos", "network"))
TWO_READY = [api_pod("offgridflow-api-1"), api_pod("offgridflow-api-2")]


def test_a_service_selecting_none_of_the_ready_pods_is_triage_2d_with_the_selector_as_evidence(
    rules: Path,
) -> None:
    # the network game day's fault: pods ready, the Service's selector matches none, the NodePort refuses
    platform = FakePlatform(
        api=TWO_READY,
        net=NetworkStatus(("offgridflow-api",), 0, 0, service_selector=BROKEN_SELECTOR, selected_pods=0),
    )
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=UNREACHABLE, ready=UNREACHABLE))
    assert (diagnosis.outcome, diagnosis.sections) == (Outcome.DIAGNOSED, ["Triage 2D"])
    assert "offgridflow-api-service has no ready endpoints" in diagnosis.summary
    assert (
        "selector app=offgridflow-api,offgridflow.io/chaos=network matches 0 of the 2 API pod(s) "
        "labelled app=offgridflow-api (2 ready)"
    ) in diagnosis.summary
    assert "offgridflow-api-service's selector" in diagnosis.summary
    assert "kubectl get endpoints -n offgridflow --context kind-unit offgridflow-api-service" in (
        diagnosis.commands
    )


def test_an_unreadable_selector_with_empty_endpoints_is_still_2d_and_names_what_it_could_not_see(
    rules: Path,
) -> None:
    platform = FakePlatform(
        api=TWO_READY,
        net=NetworkStatus(("offgridflow-api",), 0, 0, detail="selector unreadable: 403 Forbidden"),
    )
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=UNREACHABLE, ready=UNREACHABLE))
    assert diagnosis.sections == ["Triage 2D"]  # the empty endpoints were seen; the selector was not
    assert "could not see: Service selector (selector unreadable: 403 Forbidden)" in diagnosis.evidence
    assert [r.source for r in diagnosis.unknowns] == ["Service selector"]


def test_pods_not_ready_and_no_endpoints_is_the_pods_problem_not_2d(rules: Path) -> None:
    # the Service selects both pods (selected_pods=2); they are not ready: the endpoints are empty
    # because of the pods' readiness, which Triage 1 looks at, not because of the network
    platform = FakePlatform(
        api=[api_pod("offgridflow-api-1", ready=False), api_pod("offgridflow-api-2", ready=False)],
        net=NetworkStatus(
            ("offgridflow-api",), 0, 0, service_selector=(("app", "offgridflow-api"),), selected_pods=2
        ),
    )
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=UNREACHABLE, ready=UNREACHABLE))
    assert "Triage 2D" not in diagnosis.sections
    assert diagnosis.sections == ["Triage 1"]
    assert any("none ready: its API pods are not ready" in line for line in diagnosis.evidence)


@pytest.mark.parametrize("kind", ["kubernetes", "docker"])
def test_a_refused_url_while_every_pod_is_ready_behind_ready_endpoints_is_the_path_triage_2d(
    rules: Path, kind: str
) -> None:
    # a Service whose targetPort is wrong (scenarios/kind/service-target-port-wrong.json): the pods
    # answer their probes, the endpoints list them, the URL refuses: what lies between is at fault
    network = NetworkStatus(("offgridflow-api",) if kind == "kubernetes" else (), 2, 0)
    platform = FakePlatform(api=TWO_READY, net=network)
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=UNREACHABLE, ready=UNREACHABLE), kind=kind)
    assert (diagnosis.outcome, diagnosis.sections) == (Outcome.DIAGNOSED, ["Triage 2D"])
    assert (
        "every API pod is ready (2) and offgridflow-api-service has 2 ready endpoint(s)" in diagnosis.summary
    )


@pytest.mark.parametrize(
    ("why", "live", "pods"),
    [
        ("a timeout is a hung process still counted ready", httpx.ReadTimeout("timed out"), TWO_READY),
        (
            "one pod not ready",
            UNREACHABLE,
            [api_pod("offgridflow-api-1"), api_pod("offgridflow-api-2", ready=False)],
        ),
        ("no pod seen", UNREACHABLE, []),
    ],
)
def test_a_refused_url_is_not_the_path_unless_every_pod_is_seen_ready(
    rules: Path, why: str, live: Exception, pods: list[Workload]
) -> None:
    platform = FakePlatform(api=pods, net=NetworkStatus(("offgridflow-api",), 2, 0))
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=live, ready=live))
    assert "Triage 2D" not in diagnosis.sections, why


def test_a_ready_service_whose_selector_was_not_read_stays_healthy(rules: Path) -> None:
    # with ready endpoints the selector explains nothing: not reading it is no unknown of triage
    diagnosis = diagnose_fake(FakePlatform(net=NetworkStatus(("offgridflow-api",), 1, 0)), rules)
    assert diagnosis.outcome is Outcome.HEALTHY


def test_a_service_selecting_no_container_on_docker_is_a_network_problem_with_docker_commands(
    rules: Path,
) -> None:
    # the local stack's Service (its routing proxy) selects nothing: no endpoint, 8080 silent, API ready
    selector = (("app", "offgridflow-api"), ("offgridflow.io/chaos", "network"))
    network = NetworkStatus((), 0, 0, ("127.0.0.1:8081",), service_selector=selector, selected_pods=0)
    diagnosis = diagnose_fake(FakePlatform(net=network), rules, kind="docker")
    assert diagnosis.cause is Cause.NETWORK
    assert all("# on docker:" in command for command in diagnosis.commands)


@pytest.mark.parametrize("kind", ["kubernetes", "docker"])
def test_endpoints_empty_because_every_api_pod_is_unready_is_not_a_network_problem(
    rules: Path, kind: str
) -> None:
    # a hung API: the Service selects it, its readiness fails, so its one endpoint is not ready; the
    # same on the local stack, whose Service (the routing proxy) has Endpoints as a cluster's has
    hung = httpx.ReadTimeout("timed out")
    network = NetworkStatus(("offgridflow-api",) if kind == "kubernetes" else (), 0, 1)
    platform = FakePlatform(api=[api_pod(ready=False)], net=network)
    diagnosis = diagnose_fake(platform, rules, FakeHttp(live=hung, ready=hung), kind=kind)
    assert diagnosis.cause is not Cause.NETWORK
    assert "Triage 2D" not in diagnosis.sections


def test_unreachable_api_without_platform_exits_3(rules: Path) -> None:
    diagnosis = diagnose_fake(None, rules, FakeHttp(live=UNREACHABLE, ready=UNREACHABLE))
    assert (diagnosis.cause, diagnosis.section, diagnosis.exit_code) == (Cause.UNREACHABLE, "Triage 1", 3)
    assert "unreachable, connection refused: http://api.unit.test/health/live" in diagnosis.summary
    assert "curl -f http://api.unit.test/health/live" in diagnosis.commands


def test_unhealthy_without_a_runbook_branch_is_unknown_not_healthy(rules: Path) -> None:
    http = FakeHttp(ready=(503, {"status": "unhealthy", "reason": "warming up"}))
    diagnosis = diagnose_fake(None, rules, http)
    assert (diagnosis.cause, diagnosis.exit_code) == (Cause.UNKNOWN, 2)
    assert "warming up" in diagnosis.summary


@pytest.mark.parametrize(
    ("platform", "cause"),
    [
        (FakePlatform(api=[api_pod(waiting_reason="ErrImagePull")]), Cause.IMAGE_PULL),
        (FakePlatform(api=[api_pod(**oom())]), Cause.OOM),
        (FakePlatform(pg_ready=PG_DOWN, database=DB_NOT_READY), Cause.DATABASE),
    ],
)
def test_triage_never_changes_the_target(platform: FakePlatform, cause: Cause, rules: Path) -> None:
    # FakePlatform raises on every change method, so reaching a verdict proves triage only read
    assert diagnose_fake(platform, rules).cause is cause


def test_a_crash_loop_whose_previous_logs_could_not_be_read_is_a_tentative_quick_fix(rules: Path) -> None:
    class LogsRefused(FakePlatform):
        def api_logs(self, *, tail: int = 100, previous: bool = False) -> dict[str, str]:
            raise PlatformError("logs of offgridflow-api-1: 403 Forbidden")

    diagnosis = diagnose_fake(LogsRefused(api=[api_pod(**crashed(exit_code=78))]), rules)
    assert (diagnosis.section, diagnosis.outcome) == ("Quick Fix", "diagnosed")
    assert diagnosis.summary.startswith("tentative, could not see previous logs: crash loop")
    assert any("403 Forbidden" in line for line in diagnosis.evidence)


def test_a_runbook_alert_firing_is_no_all_clear(rules: Path) -> None:
    firing = {"labels": {"alertname": "OffGridFlowAPIHighErrorRate"}, "state": "firing", "activeAt": None}
    diagnosis = diagnose_fake(FakePlatform(), rules, FakeHttp(alerts=[firing]))
    assert (diagnosis.outcome, diagnosis.section) == ("diagnosed", "Triage 1")
    assert "firing: OffGridFlowAPIHighErrorRate" in diagnosis.summary


def test_an_oom_event_before_a_start_counts_only_for_an_instance_that_restarted(rules: Path) -> None:
    # Docker recreates a container under the same name: a fresh one (0 restarts) did not run then
    started = datetime.now(UTC) - timedelta(minutes=2)
    killed = dataclasses.replace(event("OOMKilled", "OOM killer"), at=started - timedelta(seconds=5))
    fresh = FakePlatform(api=[api_pod(started_at=started)], event_list=[killed])
    assert diagnose_fake(fresh, rules).cause is Cause.HEALTHY
    restarted = FakePlatform(api=[api_pod(started_at=started, restart_count=1)], event_list=[killed])
    assert diagnose_fake(restarted, rules).section == "Fix 2"


def test_an_event_of_a_replaced_instance_of_the_same_name_is_history(rules: Path) -> None:
    # Docker recreates offgridflow-api under its name: the container ID tells the two apart
    started = datetime.now(UTC) - timedelta(minutes=2)
    killed = dataclasses.replace(
        event("OOMKilled", "OOM killer"), at=started - timedelta(seconds=5), involved_uid="old-container"
    )
    current = api_pod(started_at=started, uid="new-container", **crashed(78))
    diagnosis = diagnose_fake(FakePlatform(api=[current], event_list=[killed]), rules)
    assert diagnosis.section == "Quick Fix"
    assert any("of instances that are gone or were replaced" in r.detail for r in diagnosis.readings)


def test_a_container_the_kubelet_cannot_configure_is_a_configuration_error_fix_3(rules: Path) -> None:
    # The kubelet's reason and message, not "unhealthy": a key the rolled-out pod spec names is missing.
    message = "couldn't find key OFFGRIDFLOW_DB_POOL_MAX in ConfigMap offgridflow/offgridflow-config-v2"
    platform = FakePlatform(
        api=[
            api_pod(),
            api_pod("new", ready=False, waiting_reason="CreateContainerConfigError", waiting_message=message),
        ]
    )
    diagnosis = diagnose_fake(platform, rules)
    assert (diagnosis.cause, diagnosis.sections) == (Cause.CONFIG_ERROR, ["Fix 3"])
    assert message in diagnosis.summary


# -- a rollout the Deployment cannot create pods for ---------------------------------------------------
STUCK = RolloutStatus(False, 2, 0, 2, 'Waiting for deployment "offgridflow-api" rollout to finish')


def failed_create(involved: str = "offgridflow-api-c487484b5", age: timedelta = timedelta()) -> Event:
    return Event(
        datetime.now(UTC) - age, "Warning", "FailedCreate",
        f'Error creating: pods "{involved}-6wbqt" is forbidden: exceeded quota: offgridflow-pods',
        involved,
    )  # fmt: skip


def test_a_stuck_rollout_whose_replicaset_cannot_create_pods_is_named_and_not_covered(rules: Path) -> None:
    # the old pods serve: the API is up, but no Fix could roll anything out
    diagnosis = diagnose_fake(FakePlatform(rollout=STUCK, event_list=[failed_create()]), rules)
    assert diagnosis.outcome is Outcome.DIAGNOSED
    assert (diagnosis.cause, diagnosis.sections) == (Cause.ROLLOUT_BLOCKED, ["not covered"])
    assert "exceeded quota" in diagnosis.summary
    assert "rollout is stuck" in diagnosis.summary


def test_it_names_the_blocked_rollout_before_a_fix_that_would_need_a_new_pod(rules: Path) -> None:
    platform = FakePlatform(api=[api_pod(**oom())], rollout=STUCK, event_list=[failed_create()])
    diagnosis = diagnose_fake(platform, rules)
    assert diagnosis.sections[:2] == ["not covered", "Fix 2"]


@pytest.mark.parametrize(
    ("rollout", "refused", "why"),
    [
        (
            RolloutStatus(True, 2, 2, 2, "successfully rolled out"),
            failed_create(),
            "the rollout completed since",
        ),
        (STUCK, failed_create(age=timedelta(hours=2)), "older than --since"),
        (STUCK, failed_create("postgres"), "not a ReplicaSet of the API's Deployment"),
        (STUCK, event("FailedScheduling", "0/1 nodes are available"), "not a refused pod creation"),
    ],
)
def test_a_failed_create_that_does_not_block_the_rollout_now_is_not_a_cause(
    rollout: RolloutStatus, refused: Event, why: str, rules: Path
) -> None:
    diagnosis = diagnose_fake(FakePlatform(rollout=rollout, event_list=[refused]), rules)
    assert diagnosis.cause is not Cause.ROLLOUT_BLOCKED, why


def test_a_failed_create_older_than_a_pod_made_since_is_history(rules: Path) -> None:
    # seen on kind: a quota's refusals, kept by the API server for an hour, under a later rollout
    # that is stuck for another reason (its pods were made after the quota was gone)
    made_since = api_pod(started_at=datetime.now(UTC) - timedelta(minutes=1))
    platform = FakePlatform(
        api=[made_since], rollout=STUCK, event_list=[failed_create(age=timedelta(minutes=5))]
    )
    assert diagnose_fake(platform, rules).cause is not Cause.ROLLOUT_BLOCKED
    refused_again = failed_create(age=timedelta(seconds=10))  # the controller is still refused
    platform = FakePlatform(api=[made_since], rollout=STUCK, event_list=[refused_again])
    assert diagnose_fake(platform, rules).cause is Cause.ROLLOUT_BLOCKED


def test_the_deployments_replica_failure_names_a_blocked_rollout_whose_events_are_gone(rules: Path) -> None:
    # the API server keeps events an hour; the controller keeps the condition while it is refused
    refused = dataclasses.replace(STUCK, failure="FailedCreate: exceeded quota: offgridflow-pods")
    diagnosis = diagnose_fake(FakePlatform(rollout=refused), rules)
    assert (diagnosis.cause, diagnosis.sections) == (Cause.ROLLOUT_BLOCKED, ["not covered"])
    assert "ReplicaFailure FailedCreate: exceeded quota" in diagnosis.summary
    # with the event too, the event is the reading (it names the ReplicaSet), not both
    both = diagnose_fake(FakePlatform(rollout=refused, event_list=[failed_create()]), rules)
    assert [r.source for r in both.readings if r.signal is Signal.ROLLOUT_BLOCKED] == ["events"]


def test_a_replica_failure_on_a_completed_rollout_is_not_a_cause(rules: Path) -> None:
    done = RolloutStatus(True, 2, 2, 2, "successfully rolled out", "FailedCreate: exceeded quota")
    assert diagnose_fake(FakePlatform(rollout=done), rules).cause is not Cause.ROLLOUT_BLOCKED


@dataclasses.dataclass
class _RolloutForbidden(FakePlatform):
    def rollout_status(self) -> RolloutStatus:
        raise PlatformError('deployments.apps "offgridflow-api" is forbidden: User "reader" cannot get')


def test_a_rollout_that_could_not_be_read_is_unknown_never_healthy(rules: Path) -> None:
    # everything else is fine, but a blocked rollout cannot be ruled out without the Deployment
    diagnosis = diagnose_fake(_RolloutForbidden(), rules)
    assert diagnosis.outcome is Outcome.INCONCLUSIVE
    (unknown,) = [r for r in diagnosis.readings if r.source == "rollout"]
    assert unknown.seen is Seen.UNKNOWN
    assert "forbidden" in unknown.detail
