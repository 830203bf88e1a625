"""Reading a Docker container the way kubectl reads a pod: state, last termination, logs by run.

Docker keeps one log for a container across restarts, so the run before the last restart (``kubectl
logs --previous``) is the part of that log written before the container's ``State.StartedAt``.
Docker's ``State.OOMKilled`` describes the last exit even after a restart, and the exit code of that
exit is only in the engine's ``die`` event, so the last termination comes from both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from offgridflow_runbook.platforms.base import Termination, Workload
from offgridflow_runbook.platforms.docker.engine_client import ContainerInfo


def parse_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 timestamps with nanoseconds; ``None`` for Docker's zero time."""
    if not value or value.startswith("0001-"):
        return None
    stamp = value.rstrip("Z")
    if "." in stamp:
        whole, fraction = stamp.split(".", 1)
        stamp = f"{whole}.{fraction[:6]}"
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


def last_exit_code(container: ContainerInfo, engine_events: list[dict[str, Any]]) -> int | None:
    """The exit code of the container's most recent ``die`` event."""
    codes = [
        int(event["Actor"]["Attributes"].get("exitCode", 0))
        for event in engine_events
        if event.get("Action") == "die" and event.get("id") == container.id
    ]
    return codes[-1] if codes else None


def termination(container: ContainerInfo, engine_events: list[dict[str, Any]]) -> Termination | None:
    """How the previous run ended (``lastState.terminated``), or ``None`` when there was none."""
    state = container.attrs["State"]
    running = state["Status"] == "running"
    if running and int(container.attrs.get("RestartCount", 0)) == 0:
        return None
    exit_code = int(state["ExitCode"]) if not running else last_exit_code(container, engine_events)
    if exit_code is None:
        return None
    reason = "OOMKilled" if state.get("OOMKilled") else ("Completed" if exit_code == 0 else "Error")
    return Termination(reason=reason, exit_code=exit_code, finished_at=parse_time(state.get("FinishedAt")))


def container_ready(container: ContainerInfo) -> bool:
    """A pod's readiness: running and its health check (where the image has one) ``healthy``."""
    state = container.attrs["State"]
    health = (state.get("Health") or {}).get("Status")
    return bool(state["Status"] == "running" and health in (None, "healthy"))


def workload(container: ContainerInfo, engine_events: list[dict[str, Any]]) -> Workload:
    """A container as a pod: phase, readiness, restarts, waiting reason, last termination, limits."""
    attrs = container.attrs
    state = attrs["State"]
    host = attrs["HostConfig"]
    status = state["Status"]
    waiting_reason: str | None = None
    waiting_message: str | None = None
    if status == "running":
        phase, ready = "Running", container_ready(container)
    elif status == "restarting":
        phase, ready = "Running", False
        waiting_reason = "CrashLoopBackOff"
        waiting_message = f"back-off restarting failed container (exit code {state['ExitCode']})"
    elif status == "created":
        phase, ready, waiting_reason = "Pending", False, "ContainerCreating"
    elif status == "exited":
        # Docker shows a container it will restart as "restarting"; "exited" stays down whatever its
        # policy says (`docker kill` and `docker stop` cancel the policy), as a pod that will not restart.
        phase, ready = ("Succeeded" if state["ExitCode"] == 0 else "Failed"), False
    else:
        phase, ready = "Unknown", False
    cpu_quota, cpu_period = host.get("CpuQuota") or 0, host.get("CpuPeriod") or 100_000
    return Workload(
        name=container.name,
        app=container.labels.get("app", ""),
        phase=phase,
        ready=ready,
        restart_count=int(attrs.get("RestartCount", 0)),
        image=attrs["Config"]["Image"],
        waiting_reason=waiting_reason,
        waiting_message=waiting_message,
        last_termination=termination(container, engine_events),
        memory_limit_bytes=host.get("Memory") or None,
        memory_request_bytes=host.get("MemoryReservation") or None,
        cpu_limit_millicores=(cpu_quota * 1000 // cpu_period) if cpu_quota else None,
        started_at=parse_time(state.get("StartedAt")),
        uid=container.id,
    )


def split_runs(container: ContainerInfo, raw: str, *, previous: bool) -> list[str]:
    """The log lines of the current run, or of the run before it (``previous``), without timestamps,
    from ``raw``: the container's whole log, each line with its timestamp (``docker logs -t``).

    While the container is down between restarts, its "current" run has not started, so the
    previous run is the one that just ended, as in a pod in CrashLoopBackOff.
    """
    state = container.attrs["State"]
    started = parse_time(state.get("StartedAt"))
    current: list[str] = []
    earlier: list[str] = []
    for line in raw.splitlines():
        stamp, _, text = line.partition(" ")
        at = parse_time(stamp)
        (current if started is None or at is None or at >= started else earlier).append(text)
    if state["Status"] != "running":
        return current if previous else []
    return earlier if previous else current
