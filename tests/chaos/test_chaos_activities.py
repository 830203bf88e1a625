"""The extension's probes and actions against a recording platform (no Docker, no network)."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from helpers.chaos_fakes import RecordingPlatform
from helpers.runbook_copies import edited
from offgridflow_runbook.chaos import _context, detection, faults, fixes, proof
from offgridflow_runbook.gameday.events import EventLog
from offgridflow_runbook.gameday.findings import FindingId
from offgridflow_runbook.gameday.pages import Page, PageDeliveries
from offgridflow_runbook.platforms import Event, NetworkStatus, Revision, Termination, Workload
from offgridflow_runbook.probes.http import Unreachable

NOW = datetime.now(UTC)


def api(**changes: object) -> Workload:
    values: dict[str, object] = {
        "name": "offgridflow-api",
        "app": "offgridflow-api",
        "phase": "Running",
        "ready": True,
        "restart_count": 0,
        "image": "127.0.0.1:5000/offgridflow-api:v1.3.0",
    }
    return Workload(**(values | changes))  # type: ignore[arg-type]


def test_oom_signal_needs_a_kill_after_the_fault() -> None:
    platform = RecordingPlatform(
        workloads=[api(restart_count=1, last_termination=Termination("OOMKilled", 137, NOW))]
    )
    signal = detection.oom_signal(platform, since=(NOW - timedelta(seconds=5)).timestamp())
    assert signal is not None
    assert "OOMKilled, exit code 137" in signal[0]
    assert signal[1] == NOW
    assert detection.oom_signal(platform, since=(NOW + timedelta(seconds=5)).timestamp()) is None


def test_oom_signal_ignores_other_terminations() -> None:
    platform = RecordingPlatform(workloads=[api(last_termination=Termination("Error", 1, NOW))])
    assert detection.oom_signal(platform, since=0.0) is None


def test_image_pull_signal_from_a_waiting_reason_or_an_event() -> None:
    waiting = RecordingPlatform(
        workloads=[api(waiting_reason="ImagePullBackOff", waiting_message="manifest unknown")]
    )
    found = detection.image_pull_signal(waiting, since=0.0)
    assert found is not None
    assert "ImagePullBackOff: manifest unknown" in found[0]
    message = 'Failed to pull image "x:v0": not found'
    stale = Event(NOW - timedelta(minutes=5), "Warning", "Failed", message, "offgridflow-api")
    fresh = Event(NOW, "Warning", "Failed", message, "offgridflow-api")
    assert (
        detection.image_pull_signal(RecordingPlatform(recorded_events=[stale]), NOW.timestamp() - 10) is None
    )
    assert (
        detection.image_pull_signal(RecordingPlatform(recorded_events=[fresh]), NOW.timestamp() - 10)
        is not None
    )


def test_config_crash_signal_needs_the_crash_and_the_marker() -> None:
    crashing = api(
        waiting_reason="CrashLoopBackOff", restart_count=3, last_termination=Termination("Error", 78, NOW)
    )
    marker = '{"level": "error", "event": "invalid configuration", "key": "OFFGRIDFLOW_DB_POOL_MAX"}'
    with_marker = RecordingPlatform(workloads=[crashing], previous_logs={"offgridflow-api": marker})
    without_marker = RecordingPlatform(
        workloads=[crashing], previous_logs={"offgridflow-api": "Traceback ..."}
    )
    healthy = RecordingPlatform(workloads=[api()], previous_logs={"offgridflow-api": marker})
    found = detection.config_crash_signal(with_marker, since=0.0)
    assert found is not None
    assert "invalid configuration" in found[0]
    assert detection.config_crash_signal(without_marker, since=0.0) is None
    assert detection.config_crash_signal(healthy, since=0.0) is None


def test_wait_until_gives_up_at_the_deadline_naming_the_last_error() -> None:
    def never() -> None:
        raise Unreachable("local", "http://127.0.0.1:8080/health/ready")

    started = time.monotonic()
    with pytest.raises(ActivityFailed, match=r"the thing not seen within 0.3 s \(last error: .*unreachable"):
        _context.wait_until(never, deadline=0.3, what="the thing", interval=0.05)
    assert time.monotonic() - started < 2


def test_wait_until_returns_the_first_value() -> None:
    answers = iter([None, None, "seen"])
    assert _context.wait_until(lambda: next(answers), deadline=5, what="x", interval=0.01) == "seen"


def test_detection_records_detected_at_with_the_signal(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    log = EventLog.for_configuration(configuration)
    log.record("fault_at", fault="memory assault 700 MiB")
    # The kill must come after the fault: NOW (import time) can precede it by seconds in a long run.
    killed_at = datetime.now(UTC)
    oom_killed = Termination("OOMKilled", 137, killed_at)
    fake_platform.workloads = [api(restart_count=1, last_termination=oom_killed)]
    assert detection.wait_for_oom_killed("local", deadline=2, configuration=configuration) is True
    detected = log.first("detected_at")
    assert detected is not None
    assert "OOMKilled" in detected.detail["signal"]
    assert detected.detail["shown_at"] == pytest.approx(killed_at.timestamp())


def test_fix_2_records_its_start_and_waits_for_the_rollout(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    fixes.fix_2_patch_memory(target="local", configuration=configuration)
    assert fake_platform.calls == ["patch_memory 2Gi 1Gi", "wait_rollout"]
    fix = EventLog.for_configuration(configuration).first("fix_started_at")
    assert fix is not None
    assert fix.detail["fix"] == "Fix 2: memory limit 2Gi, request 1Gi"


def test_fix_1_restarts_the_database_before_the_api(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    fixes.fix_1_restart_database_then_api(target="local", configuration=configuration)
    assert fake_platform.calls == [
        "restart_database",
        "wait_database_ready",
        "rollout_restart",
        "wait_rollout",
    ]


def test_the_crash_loop_crashes_the_database_each_time_it_is_back_and_records_one_fault(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    faults.crash_database_repeatedly(times=3, target="local", configuration=configuration)
    assert fake_platform.calls == [
        "crash_database",
        "wait_database_ready",
        "crash_database",
        "wait_database_ready",
        "crash_database",
    ]
    log = EventLog.for_configuration(configuration)
    assert [e.kind for e in log.read()].count("fault_at") == 1


def test_fix_1_on_a_crash_looping_database_is_a_finding_with_the_time_it_took(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    looping = Workload("postgres-0", "postgres", "Running", False, 4, "postgres", "CrashLoopBackOff")
    fake_platform.databases = [looping]
    fixes.fix_1_restart_database_then_api(target="local", configuration=configuration)
    recorded = [e.detail for e in EventLog.for_configuration(configuration).read() if e.kind == "finding"]
    assert [detail["id"] for detail in recorded] == [FindingId.FIX_1_DATABASE_CRASH_LOOPING]
    findings = [detail["text"] for detail in recorded]
    assert len(findings) == 1
    assert findings[0].startswith("Fix 1 met postgres-0 in CrashLoopBackOff")
    assert "kubectl delete pod -n offgridflow -l app=postgres" in findings[0]


def test_fixes_step_aside_once_the_fault_healed_by_itself(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    log = EventLog.for_configuration(configuration)
    log.record("fault_at", fault="database killed")
    log.record("self_healed_at", after_s=3.0)
    answer = fixes.fix_1_restart_database_then_api(target="local", configuration=configuration)
    assert answer == "healed by itself; the fix was not applied"
    assert fake_platform.calls == []
    assert detection.diagnosis_names("Fix 1", target="local", configuration=configuration) is True
    assert log.first("diagnosis") is None


def test_fix_4_keeps_the_repository_and_sets_the_known_good_tag(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    fixes.fix_4_set_known_good_image(target="local", configuration=configuration)
    assert fake_platform.calls == ["set_image 127.0.0.1:5000/offgridflow-api:v1.2.3", "wait_rollout"]


def test_fix_4_sets_the_tag_the_runbook_names_when_the_runbook_changes(
    fake_platform: RecordingPlatform,
    configuration: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    copy = tmp_path / "runbook.md"
    copy.write_text(edited("offgridflow-api:v1.2.3", "offgridflow-api:v1.1.0"), encoding="utf-8")
    monkeypatch.setenv("OFFGRIDFLOW_RUNBOOK", str(copy))
    fixes.fix_4_set_known_good_image(target="local", configuration=configuration)
    assert fake_platform.calls[0] == "set_image 127.0.0.1:5000/offgridflow-api:v1.1.0"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("127.0.0.1:5000/offgridflow-api:v1.3.0", "127.0.0.1:5000/offgridflow-api:v9"),
        ("offgridflow-api:v1.3.0", "offgridflow-api:v9"),
        ("ghcr.io/o/offgridflow-api@sha256:abc", "ghcr.io/o/offgridflow-api:v9"),
        ("offgridflow-api", "offgridflow-api:v9"),
    ],
)
def test_image_with_tag(image: str, expected: str) -> None:
    assert _context.image_with_tag(image, "v9") == expected


@pytest.mark.parametrize(
    "fix",
    [
        "fix_1_restart_database_then_api",
        "fix_2_patch_memory",
        "fix_3_rollout_undo",
        "fix_4_set_known_good_image",
    ],
)
def test_rollback_fix_without_a_fault_in_this_run_does_nothing(
    fix: str, fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    """An interrupted or refused run applied no fault: undoing a healthy rollout would break it."""
    assert getattr(fixes, fix)(target="local", only_if_broken=True, configuration=configuration) == (
        "already healthy; nothing to fix"
    )
    assert fake_platform.calls == []


def test_rollback_undo_runs_while_the_bad_value_is_still_configured(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    EventLog.for_configuration(configuration).record("fault_at", fault="config OFFGRIDFLOW_DB_POOL_MAX=lots")
    fake_platform.configuration = {"OFFGRIDFLOW_DB_POOL_MAX": "lots"}
    fixes.fix_3_rollout_undo(target="local", only_if_broken=True, configuration=configuration)
    assert fake_platform.calls == ["rollout_undo", "wait_rollout"]


def test_rollback_undo_does_not_undo_a_fix_once_the_bad_value_is_gone(
    fake_platform: RecordingPlatform, configuration: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Verification still failing on an alert that is resolving is no reason to undo again: a
    second rollout undo would roll back the first and bring the bad configuration back."""
    EventLog.for_configuration(configuration).record("fault_at", fault="config OFFGRIDFLOW_DB_POOL_MAX=lots")
    fake_platform.configuration = {"OFFGRIDFLOW_DB_POOL_MAX": "10"}
    monkeypatch.setattr(fixes, "verified", lambda target, platform: False)
    answer = fixes.fix_3_rollout_undo(target="local", only_if_broken=True, configuration=configuration)
    assert answer == "already healthy; nothing to fix"
    assert fake_platform.calls == []


def test_rollback_image_fix_only_while_the_bad_image_is_deployed(
    fake_platform: RecordingPlatform, configuration: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = "127.0.0.1:5000/offgridflow-api:v0.0.0-does-not-exist"
    EventLog.for_configuration(configuration).record("fault_at", fault=f"set image {bad}", image=bad)
    monkeypatch.setattr(fixes, "verified", lambda target, platform: False)
    answer = fixes.fix_4_set_known_good_image(
        target="local", only_if_broken=True, configuration=configuration
    )
    assert answer == "already healthy; nothing to fix"
    fake_platform.history[-1] = Revision(2, bad, "512Mi", "256Mi")
    fixes.fix_4_set_known_good_image(target="local", only_if_broken=True, configuration=configuration)
    assert fake_platform.calls[0] == "set_image 127.0.0.1:5000/offgridflow-api:v1.2.3"


def test_stop_background_writer_without_one(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    with pytest.raises(ActivityFailed, match="no background writer is running"):
        proof.stop_background_writer(target="local", configuration=configuration)
    assert proof.stop_background_writer(target="local", missing_ok=True, configuration=configuration) == {
        "acked": 0,
        "failed": 0,
        "attempts": 0,
    }


def _pages_seen(monkeypatch: pytest.MonkeyPatch, *answers: PageDeliveries) -> list[str | None]:
    """The receiver answers ``answers`` in turn (the last one from then on); records the URLs read."""
    asked: list[str | None] = []

    def read_pages(url: str | None, *, since: float) -> PageDeliveries:
        asked.append(url)
        return answers[min(len(asked), len(answers)) - 1]

    monkeypatch.setattr(detection, "read_pages", read_pages)
    monkeypatch.setattr(detection, "_alert_floor_s", lambda *_args: 0.0)
    return asked


def test_wait_for_page_records_the_page_of_this_fault(
    monkeypatch: pytest.MonkeyPatch, configuration: dict[str, str]
) -> None:
    log = EventLog.for_configuration(configuration)
    fault = log.record("fault_at", fault="memory assault")
    older = Page("OffGridFlowAPIDown", "primary-oncall", fault.at + 0.1, fault.at - 300)
    page = Page("OffGridFlowAPIOOMKilled", "primary-oncall", fault.at + 2.5, fault.at + 2.0)
    asked = _pages_seen(monkeypatch, PageDeliveries(), PageDeliveries((older, page)))
    assert detection.wait_for_page(
        "OffGridFlowAPIOOMKilled, OffGridFlowAPIDown", target="local", deadline=5, configuration=configuration
    )
    assert asked[0] == "http://127.0.0.1:9095"
    note = log.first("note")
    assert note is not None
    assert note.detail["alert"] == "OffGridFlowAPIOOMKilled"
    assert note.detail["paged_at"] == fault.at + 2.5


def test_wait_for_page_fails_naming_why_the_receiver_could_not_be_read(
    monkeypatch: pytest.MonkeyPatch, configuration: dict[str, str]
) -> None:
    EventLog.for_configuration(configuration).record("fault_at", fault="database killed")
    _pages_seen(monkeypatch, PageDeliveries(unknown="alert-receiver http://127.0.0.1:9095: refused"))
    with pytest.raises(ActivityFailed, match="the receiver could not be read: alert-receiver"):
        detection.wait_for_page("PostgreSQLDown", target="local", deadline=0.6, configuration=configuration)
    finding = EventLog.for_configuration(configuration).first("finding")
    assert finding is not None
    assert finding.detail["text"].startswith("no page for PostgreSQLDown within")
    assert finding.detail["id"] == FindingId.NO_PAGE_IN_TIME


def test_wait_for_page_without_a_fault_refuses(configuration: dict[str, str]) -> None:
    with pytest.raises(ActivityFailed, match="no fault was applied"):
        detection.wait_for_page("PostgreSQLDown", target="local", deadline=1, configuration=configuration)


def test_a_readiness_endpoint_that_does_not_answer_in_time_is_detected_as_unhealthy(
    tmp_path: Path, configuration: dict[str, str]
) -> None:
    """While postgres crash-loops on kind, /health/ready hangs instead of answering 503."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections into the backlog and never answers
    targets = tmp_path / "targets.yaml"
    port = listener.getsockname()[1]
    targets.write_text(
        "targets:\n  hung:\n    platform: docker\n"
        f"    base_url: http://127.0.0.1:{port}\n    allow_chaos: true\n"
    )
    try:
        detected = detection.wait_for_database_unreachable(
            target="hung", deadline=10, configuration={**configuration, "targets_file": str(targets)}
        )
    finally:
        listener.close()
    assert detected is True
    signal = EventLog.for_configuration(configuration).first("detected_at")
    assert signal is not None
    assert str(signal.detail["signal"]).startswith("/health/ready did not answer")


BROKEN = {"app": "offgridflow-api", "offgridflow.io/chaos": "network"}


def no_endpoints(platform: RecordingPlatform) -> NetworkStatus:
    """What a platform reports while the Service's selector is the fault's: it selects no instance."""
    selector = tuple(sorted(platform.selector.items()))
    if platform.selector == {"app": "offgridflow-api"}:
        return NetworkStatus((), 1, 0, service_selector=selector, selected_pods=1)
    return NetworkStatus((), 0, 0, service_selector=selector, selected_pods=0)


@pytest.fixture
def selecting(fake_platform: RecordingPlatform, monkeypatch: pytest.MonkeyPatch) -> RecordingPlatform:
    """The recording platform whose network() follows its Service selector."""
    fake_platform.workloads = [api()]
    monkeypatch.setattr(fake_platform, "network", lambda: no_endpoints(fake_platform), raising=False)
    return fake_platform


def test_the_network_fault_adds_a_label_no_instance_carries_and_records_the_selector_it_replaces(
    selecting: RecordingPlatform, configuration: dict[str, str]
) -> None:
    assert faults.break_service_selector(target="local", configuration=configuration) == BROKEN
    assert selecting.calls == [f"set_api_service_selector {BROKEN}"]
    fault = EventLog.for_configuration(configuration).first("fault_at")
    assert fault is not None
    assert (fault.detail["selector"], fault.detail["broken"]) == ({"app": "offgridflow-api"}, BROKEN)


def test_the_network_detection_needs_ready_instances_and_a_service_selecting_none(
    selecting: RecordingPlatform, configuration: dict[str, str]
) -> None:
    assert detection.service_selection_signal(selecting, 0.0) is None  # healthy: it selects the instance
    selecting.selector = dict(BROKEN)
    signal, _ = detection.service_selection_signal(selecting, 0.0) or ("", None)
    assert signal == (
        "offgridflow-api-service selects app=offgridflow-api,offgridflow.io/chaos=network: 0 API instances, "
        "no ready endpoint, while 1 are ready"
    )
    selecting.workloads = [api(ready=False)]  # no instance ready: the pods' problem, not the network's
    assert detection.service_selection_signal(selecting, 0.0) is None


def test_fix_5_sets_the_selector_back_and_records_that_the_runbook_had_no_fix_with_the_time(
    selecting: RecordingPlatform, configuration: dict[str, str]
) -> None:
    faults.break_service_selector(target="local", configuration=configuration)
    selecting.calls.clear()
    fixes.fix_5_select_the_deployments_pods(target="local", configuration=configuration)
    # no Deployment on the recording platform: the selector recorded before the fault
    assert selecting.calls == ["set_api_service_selector {'app': 'offgridflow-api'}", "wait_rollout"]
    log = EventLog.for_configuration(configuration)
    [finding] = [e.detail for e in log.read() if e.kind == "finding"]
    assert finding["id"] == FindingId.NO_FIX_FOR_2D
    assert finding["selector"] == {"app": "offgridflow-api"}
    assert isinstance(finding["took_s"], float)
    fix = log.first("fix_started_at")
    assert fix is not None
    assert fix.detail["fix"].startswith("Fix 5 (proposed)")


def test_fix_5_reads_the_deployments_selector_where_there_is_one(
    selecting: RecordingPlatform, configuration: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    faults.break_service_selector(target="local", configuration=configuration)
    # the Deployment's matchLabels, not the selector recorded before the fault (which it differs from)
    deployment = {"app": "offgridflow-api", "tier": "api"}
    monkeypatch.setattr(selecting, "api_pod_selector", lambda: dict(deployment), raising=False)
    monkeypatch.setattr(selecting, "network", lambda: NetworkStatus((), 1, 0), raising=False)
    fixes.fix_5_select_the_deployments_pods(target="local", configuration=configuration)
    assert selecting.selector == deployment


def test_rollback_fix_5_only_while_the_faults_selector_is_in_place(
    selecting: RecordingPlatform, configuration: dict[str, str]
) -> None:
    faults.break_service_selector(target="local", configuration=configuration)
    selecting.selector = {"app": "offgridflow-api"}  # put back meanwhile
    selecting.calls.clear()
    answer = fixes.fix_5_select_the_deployments_pods(
        target="local", only_if_broken=True, configuration=configuration
    )
    assert answer == "already healthy; nothing to fix"
    assert selecting.calls == []
