"""A platform that records what it is asked to do, for the chaos extension's unit tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import ClassVar

from offgridflow_runbook.platforms import (
    CommandResult,
    Event,
    NetworkStatus,
    Revision,
    RolloutStatus,
    SeenIdentity,
    Usage,
    Workload,
)

# What the local target's declared identity (targets.yaml) expects to find.
LOCAL_IDENTITY = SeenIdentity("docker", docker_host="unix:///var/run/docker.sock", stack_labels=("local",))


@dataclass
class RecordingPlatform:
    kind: ClassVar[str] = "docker"
    workloads: list[Workload] = field(default_factory=list)
    databases: list[Workload] = field(default_factory=list)
    recorded_events: list[Event] = field(default_factory=list)
    previous_logs: dict[str, str] = field(default_factory=dict)
    history: list[Revision] = field(
        default_factory=lambda: [Revision(1, "127.0.0.1:5000/offgridflow-api:v1.3.0", "512Mi", "256Mi")]
    )
    configuration: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    closed: int = 0
    # what identity() answers (with contact=False, without what only the engine can tell)
    seen: SeenIdentity = LOCAL_IDENTITY
    identity_reads: list[bool] = field(default_factory=list)
    selector: dict[str, str] = field(default_factory=lambda: {"app": "offgridflow-api"})

    def identity(self, *, contact: bool = True) -> SeenIdentity:
        self.identity_reads.append(contact)
        return self.seen if contact else replace(self.seen, nodes=None, stack_labels=None)

    def api_workloads(self) -> list[Workload]:
        return list(self.workloads)

    def database_workloads(self) -> list[Workload]:
        return list(self.databases)

    def events(self, since: datetime | None = None) -> list[Event]:
        return [e for e in self.recorded_events if since is None or e.at >= since]

    def api_logs(self, *, tail: int = 100, previous: bool = False) -> dict[str, str]:
        return dict(self.previous_logs) if previous else {}

    def database_logs(self, *, tail: int = 50) -> str:
        return ""

    def pg_isready(self) -> CommandResult:
        return CommandResult(("pg_isready",), 0, "accepting connections")

    def resource_usage(self) -> list[Usage]:
        return []

    def network(self) -> NetworkStatus:
        return NetworkStatus((), 1, 0)

    def api_service_selector(self) -> dict[str, str]:
        return dict(self.selector)

    def rollout_status(self) -> RolloutStatus:
        return RolloutStatus(True, 1, 1, 1, "successfully rolled out")

    def rollout_history(self) -> list[Revision]:
        return list(self.history)

    def config(self) -> dict[str, str]:
        return dict(self.configuration)

    def rollout_restart(self) -> None:
        self.calls.append("rollout_restart")

    def wait_rollout(self, timeout: float = 120.0) -> RolloutStatus:
        self.calls.append("wait_rollout")
        return self.rollout_status()

    def patch_memory(self, *, limit: str = "2Gi", request: str = "1Gi") -> None:
        self.calls.append(f"patch_memory {limit} {request}")

    def set_image(self, image: str) -> None:
        self.calls.append(f"set_image {image}")

    def rollout_undo(self) -> None:
        self.calls.append("rollout_undo")

    def update_config(self, changes: Mapping[str, str]) -> None:
        self.calls.append(f"update_config {dict(changes)}")

    def kill_database(self) -> None:
        self.calls.append("kill_database")

    def crash_database(self) -> None:
        self.calls.append("crash_database")

    def restart_database(self) -> None:
        self.calls.append("restart_database")

    def wait_database_ready(self, timeout: float = 300.0) -> None:
        self.calls.append("wait_database_ready")

    def set_api_service_selector(self, selector: Mapping[str, str]) -> None:
        self.calls.append(f"set_api_service_selector {dict(selector)}")
        self.selector = dict(selector)

    def close(self) -> None:
        self.closed += 1
