"""How the docker driver reads a container as a pod: no engine needed, containers are stand-ins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from offgridflow_runbook.platforms.docker.engine_client import ContainerInfo
from offgridflow_runbook.platforms.docker.observe import parse_time, split_runs, workload
from offgridflow_runbook.platforms.docker.usage import CgroupSample

STARTED = "2026-11-27T00:00:10.123456789Z"


def stand_in(
    *, status: str, restart_count: int = 0, policy: str = "on-failure", **state: Any
) -> ContainerInfo:
    """The API's container as the engine inspects it, in ``status`` with ``state`` over a clean exit."""
    return ContainerInfo.from_inspect(
        {
            "Id": "c0ffee",
            "Name": "/offgridflow-api",
            "State": {
                "Status": status,
                "ExitCode": 0,
                "OOMKilled": False,
                "StartedAt": STARTED,
                "FinishedAt": "2026-11-27T00:00:09.5Z",
            }
            | state,
            "RestartCount": restart_count,
            "HostConfig": {"RestartPolicy": {"Name": policy}, "Memory": 512 * 2**20, "MemoryReservation": 0},
            "Config": {
                "Image": "127.0.0.1:5000/offgridflow-api:v1.3.0",
                "Labels": {"app": "offgridflow-api"},
            },
        }
    )


def _die(exit_code: int) -> dict[str, Any]:
    return {"id": "c0ffee", "Action": "die", "Actor": {"Attributes": {"exitCode": str(exit_code)}}}


def test_parse_time_keeps_microseconds_and_treats_docker_zero_time_as_none():
    assert parse_time(STARTED) == datetime(2026, 11, 27, 0, 0, 10, 123456, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("") is None


def test_a_healthy_running_container_is_a_ready_running_pod_without_termination():
    container = stand_in(status="running", Health={"Status": "healthy"})
    seen = workload(container, [])
    assert (seen.phase, seen.ready, seen.waiting_reason) == ("Running", True, None)
    assert seen.last_termination is None
    assert seen.memory_limit_bytes == 512 * 2**20
    assert seen.memory_request_bytes is None


def test_a_container_still_starting_its_health_check_is_not_ready():
    container = stand_in(status="running", Health={"Status": "starting"})
    assert workload(container, []).ready is False


def test_a_restarted_container_reports_the_oom_kill_of_its_previous_run():
    healthy = {"Status": "healthy"}
    container = stand_in(status="running", restart_count=2, OOMKilled=True, Health=healthy)
    seen = workload(container, [_die(1), _die(137)])
    assert seen.restart_count == 2
    assert seen.last_termination is not None
    assert (seen.last_termination.reason, seen.last_termination.exit_code) == ("OOMKilled", 137)
    assert seen.last_termination.oom_killed


def test_a_restarting_api_is_in_crash_loop_back_off():
    container = stand_in(status="restarting", restart_count=3, ExitCode=78)
    seen = workload(container, [])
    assert (seen.phase, seen.ready, seen.waiting_reason) == ("Running", False, "CrashLoopBackOff")
    assert seen.last_termination is not None
    assert (seen.last_termination.reason, seen.last_termination.exit_code) == ("Error", 78)


# `docker kill` cancels the restart policy: an exited container stays down whatever its policy says.
@pytest.mark.parametrize("policy", ["no", "unless-stopped"])
def test_a_killed_database_is_failed_whatever_its_restart_policy(policy: str):
    container = stand_in(status="exited", policy=policy, ExitCode=137)
    seen = workload(container, [])
    assert (seen.phase, seen.waiting_reason) == ("Failed", None)
    assert seen.last_termination is not None
    assert seen.last_termination.exit_code == 137


LOG = (
    "2026-11-27T00:00:01.000000000Z first run starts\n"
    "2026-11-27T00:00:09.000000000Z invalid configuration\n"
    "2026-11-27T00:00:10.200000000Z second run starts\n"
)


@pytest.mark.parametrize(
    ("status", "previous", "expected"),
    [
        ("running", True, ["first run starts", "invalid configuration"]),
        ("running", False, ["second run starts"]),
        # Waiting to restart: the run that just ended is the previous one, as in CrashLoopBackOff.
        ("restarting", True, ["second run starts"]),
        ("restarting", False, []),
    ],
)
def test_logs_are_split_into_runs_at_started_at(status: str, previous: bool, expected: list[str]):
    container = stand_in(status=status, restart_count=1)
    assert split_runs(container, LOG, previous=previous) == expected


def test_a_cgroup_sample_gives_the_working_set_and_cpu_over_its_window():
    # 300 MiB used, 100 MiB inactive cache; 50 ms of CPU in a 200 ms window = 250 millicores.
    sample = CgroupSample.parse(f"{300 * 2**20} {100 * 2**20} 1000000000 5000000000 1050000000 5200000000\n")
    assert sample.working_set_bytes == 200 * 2**20
    assert sample.cpu_millicores == pytest.approx(250.0)


def test_a_cgroup_sample_with_missing_numbers_is_refused():
    with pytest.raises(ValueError, match="expected 6 numbers"):
        CgroupSample.parse("123 456\n")
