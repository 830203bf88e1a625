"""An in-memory Platform and an in-memory HTTP API/Prometheus, for unit tests of the decision logic.

The real platforms and the real API are exercised elsewhere (tests/probes, tests/checks,
tests/platforms/kubernetes, e2e); here every input of the triage tree is fabricated so each branch
and the order between them can be tested exhaustively and fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import httpx

from offgridflow_runbook.platforms import (
    CommandResult,
    Event,
    NetworkStatus,
    Platform,
    Revision,
    RolloutStatus,
    Termination,
    Usage,
    Workload,
)
from offgridflow_runbook.probes.http import ApiProbe
from offgridflow_runbook.probes.prometheus import PrometheusProbe
from offgridflow_runbook.probes.snapshot import Observations, observe
from offgridflow_runbook.targets import Target

TOKEN = "unit-test-token-5f3a9c"
IMAGE = "127.0.0.1:5000/offgridflow-api:v1.3.0"
ERROR_RATE_EXPR = (
    'sum(rate(http_requests_total{job="offgridflow-api",path!~"/health/.*",status=~"5.."}[5m]))'
    ' / sum(rate(http_requests_total{job="offgridflow-api"}[5m])) > 0.01'
)


def api_pod(name: str = "offgridflow-api-1", **changes: object) -> Workload:
    values: dict[str, object] = {
        "name": name,
        "app": "offgridflow-api",
        "phase": "Running",
        "ready": True,
        "restart_count": 0,
        "image": IMAGE,
        "memory_limit_bytes": 512 * 2**20,
        "memory_request_bytes": 256 * 2**20,
        "cpu_limit_millicores": 500,
    }
    values.update(changes)
    return Workload(**values)  # type: ignore[arg-type]


def oom(restarts: int = 1) -> dict[str, object]:
    return {"restart_count": restarts, "last_termination": Termination("OOMKilled", 137)}


def crashed(exit_code: int = 1, restarts: int = 3) -> dict[str, object]:
    return {
        "restart_count": restarts,
        "ready": False,
        "waiting_reason": "CrashLoopBackOff",
        "last_termination": Termination("Error", exit_code),
    }


@dataclass
class FakePlatform:
    """A Platform whose reads return what the test put in; changes are refused (triage is read-only)."""

    kind: ClassVar[str] = "fake"
    api: list[Workload] = field(default_factory=lambda: [api_pod()])
    database: list[Workload] = field(
        default_factory=lambda: [Workload("postgres-0", "postgres", "Running", True, 0, "postgres:15")]
    )
    event_list: list[Event] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=lambda: {"offgridflow-api-1": '{"event": "started"}'})
    previous_logs: dict[str, str] = field(default_factory=dict)
    pg_ready: CommandResult = field(
        default_factory=lambda: CommandResult(
            ("pg_isready", "-h", "postgres-service", "-p", "5432"),
            0,
            "postgres-service:5432 - accepting connections",
        )
    )
    usage: list[Usage] = field(
        default_factory=lambda: [Usage("offgridflow-api-1", 100 * 2**20, 20.0, 512 * 2**20)]
    )
    net: NetworkStatus = field(default_factory=lambda: NetworkStatus(("offgridflow-api",), 1, 0))
    rollout: RolloutStatus = field(
        default_factory=lambda: RolloutStatus(True, 1, 1, 1, "successfully rolled out")
    )
    reads: list[str] = field(default_factory=list)

    def api_workloads(self) -> list[Workload]:
        self.reads.append("api_workloads")
        return list(self.api)

    def database_workloads(self) -> list[Workload]:
        return list(self.database)

    def events(self, since: datetime | None = None) -> list[Event]:
        return [e for e in self.event_list if since is None or e.at >= since]

    def api_logs(self, *, tail: int = 100, previous: bool = False) -> dict[str, str]:
        source = self.previous_logs if previous else self.logs
        return {name: "\n".join(text.splitlines()[-tail:]) for name, text in source.items()}

    def database_logs(self, *, tail: int = 50) -> str:
        return ""

    def pg_isready(self) -> CommandResult:
        return self.pg_ready

    def resource_usage(self) -> list[Usage]:
        return list(self.usage)

    def network(self) -> NetworkStatus:
        return self.net

    def rollout_status(self) -> RolloutStatus:
        return self.rollout

    def rollout_history(self) -> list[Revision]:
        return [Revision(1, IMAGE)]

    def config(self) -> dict[str, str]:
        return {}

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("triage and checks must never change the target")

    rollout_restart = wait_rollout = patch_memory = set_image = rollout_undo = _refuse
    update_config = kill_database = crash_database = restart_database = wait_database_ready = _refuse

    def close(self) -> None:
        pass


def event(reason: str, message: str, type_: str = "Warning") -> Event:
    return Event(datetime.now(UTC), type_, reason, message, "offgridflow-api-1")


@dataclass
class FakeHttp:
    """Answers for the API and Prometheus, keyed by path; an exception value is raised."""

    live: tuple[int, object] | Exception = (200, {"status": "alive"})
    ready: tuple[int, object] | Exception = (200, {"status": "healthy", "checks": {"database": "ok"}})
    activities: tuple[int, object] = (200, {"items": [], "count": 0, "limit": 1})
    metrics: str = 'http_requests_total{method="GET",path="/health/live",status="200"} 3.0\n'
    error_series: list[float] = field(default_factory=list)  # values the alert expression returns
    ratio: float | None = 0.0
    alerts: list[dict[str, object]] = field(default_factory=list)
    prometheus_down: bool = False  # Prometheus refuses connections
    loaded_rules: list[dict[str, object]] = field(default_factory=list)  # /api/v1/rules' alerting rules
    requests: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if self.prometheus_down and path.startswith("/api/v1/"):
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        routes: Mapping[str, Callable[[], httpx.Response]] = {
            "/health/live": lambda: self._answer(self.live, request),
            "/health/ready": lambda: self._answer(self.ready, request),
            "/v1/activities": lambda: self._activities(request),
            "/metrics": lambda: httpx.Response(200, text=self.metrics),
            "/api/v1/query": lambda: self._query(request),
            "/api/v1/alerts": lambda: httpx.Response(
                200, json={"status": "success", "data": {"alerts": self.alerts}}
            ),
            # none loaded (the default): the look takes the alert's expression from the rules file
            "/api/v1/rules": lambda: httpx.Response(
                200, json={"status": "success", "data": {"groups": [{"rules": self.loaded_rules}]}}
            ),
        }
        return routes.get(path, lambda: httpx.Response(404))()

    def _answer(self, answer: tuple[int, object] | Exception, request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer[0], json=answer[1])

    def _activities(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"detail": "unauthorized"})
        return httpx.Response(self.activities[0], json=self.activities[1])

    def _query(self, request: httpx.Request) -> httpx.Response:
        expression = request.url.params["query"]
        if expression == ERROR_RATE_EXPR:
            values = self.error_series
        else:
            values = [] if self.ratio is None else [self.ratio]
        result = [{"metric": {}, "value": [0, str(v)]} for v in values]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "vector", "result": result}}
        )


def rules_file(directory: Path) -> Path:
    path = directory / "offgridflow.rules.yml"
    path.write_text(
        json.dumps(
            {
                "groups": [
                    {
                        "name": "offgridflow",
                        "rules": [{"alert": "OffGridFlowAPIHighErrorRate", "expr": ERROR_RATE_EXPR}],
                    }
                ]
            }
        )
    )
    return path


def make_target(platform: str = "kubernetes", **changes: object) -> Target:
    values: dict[str, object] = {
        "name": "unit",
        "platform": platform,
        "base_url": "http://api.unit.test",
        "metrics_url": "http://api.unit.test:8081/metrics",
        "prometheus_url": "http://prometheus.unit.test",
        "kube_context": "kind-unit" if platform == "kubernetes" else None,
        "token_env": "UNIT_TEST_TOKEN",
    }
    values.update(changes)
    return Target(**values)  # type: ignore[arg-type]


def look(
    target: Target,
    http: FakeHttp | None = None,
    platform: Platform | None = None,
    *,
    rules: Path,
    platform_reason: str = "no platform access (platform: none)",
) -> Observations:
    http = http or FakeHttp()
    transport = httpx.MockTransport(http.handler)
    prometheus = (
        PrometheusProbe(target.prometheus_url, transport=transport) if target.prometheus_url else None
    )
    with ApiProbe(target, transport=transport) as api:
        return observe(
            target,
            api=api,
            platform=platform,
            platform_reason="" if platform else platform_reason,
            prometheus=prometheus,
            rules_file=rules,
            history=True,
        )
