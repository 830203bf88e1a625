"""Seeds the Kubernetes scenarios of the triage corpus (``tests/runbook/triage/scenarios/kubernetes/``).

Until recordings from the real kind cluster replace them (``offgridflow-runbook diagnose --target
kind --record FILE``), each Kubernetes scenario is one look taken by the real ``KubernetesPlatform``
against the HTTP Kubernetes API fake (``helpers.kube_fake_server``), seeded as a cluster shows that state,
with the API's and Prometheus' answers from ``helpers.triage_fakes.FakeHttp``. The look is saved in the same
record format as ``diagnose --record``, with the verdict a runbook expert expects beside it.

Run from the repository root: ``.venv/bin/python tests/runbook/triage/seed_scenarios.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # tests/, where the shared helpers package lives

from helpers.kube_fake_environment import KubeFakeEnvironment  # noqa: E402
from helpers.kube_fake_server import KubeFake, start, stop, write_kubeconfig  # noqa: E402
from helpers.triage_fakes import TOKEN, FakeHttp, look, rules_file  # noqa: E402
from offgridflow_runbook.probes import record  # noqa: E402
from offgridflow_runbook.probes.platform import open_platform  # noqa: E402

OUT = HERE / "scenarios" / "kubernetes"
API_POD = "offgridflow-api-7d9f-abcde"
PG_ISREADY = ("pg_isready", "-h", "postgres-service", "-p", "5432")
DB_DOWN_READY = (503, {"status": "unhealthy", "checks": {"database": "unavailable"}, "reason": "timeout"})
DB_LOG = (
    '{"level": "warning", "event": "database unavailable, retrying", "attempt": 4, '
    '"reason": "connection refused"}\n'
)
REFUSED = httpx.ConnectError("[Errno 111] Connection refused")


def _now(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Scenario:
    name: str
    description: str
    expected: dict[str, Any]
    seed: Callable[[KubeFakeEnvironment], None] = lambda cluster: None
    http: FakeHttp = field(default_factory=FakeHttp)
    no_kubeconfig: bool = False


def _healthy(cluster: KubeFakeEnvironment) -> None:
    cluster.seed_runbook_namespace()
    cluster.add_api_pod(API_POD)
    cluster.set_log(API_POD, '{"level": "info", "event": "service started"}\n')
    cluster.add_pod_metrics(API_POD, memory="120Mi", cpu="20m")


def _then(*steps: Callable[[KubeFakeEnvironment], object]) -> Callable[[KubeFakeEnvironment], None]:
    def seed(cluster: KubeFakeEnvironment) -> None:
        _healthy(cluster)
        for step in steps:
            step(cluster)

    return seed


def _delete(prefix: str, plural: str, name: str) -> Callable[[KubeFakeEnvironment], None]:
    return lambda cluster: cluster.fake.objects.pop((prefix, plural, "offgridflow", name), None)


def _postgres_not_ready(cluster: KubeFakeEnvironment) -> None:
    pod = cluster.fake.objects[("api/v1", "pods", "offgridflow", "postgres-0")]
    pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    pod["status"]["containerStatuses"][0]["ready"] = False


def _pg(code: int, output: str) -> Callable[[KubeFakeEnvironment], None]:
    return lambda cluster: cluster.fake.exec_results.__setitem__(PG_ISREADY, (code, output))


def _api_log(text: str) -> Callable[[KubeFakeEnvironment], None]:
    return lambda cluster: cluster.set_log(API_POD, text)


def _no_endpoints(cluster: KubeFakeEnvironment) -> None:
    endpoints = cluster.fake.objects[("api/v1", "endpoints", "offgridflow", "offgridflow-api-service")]
    endpoints["subsets"] = []


def _exec_forbidden(cluster: KubeFakeEnvironment) -> None:
    cluster.fake.exec_refused = 403


def _no_metrics_api(cluster: KubeFakeEnvironment) -> None:
    for key in [k for k in cluster.fake.objects if k[0].startswith("apis/metrics.k8s.io")]:
        del cluster.fake.objects[key]


def _stale_oom_event(cluster: KubeFakeEnvironment) -> None:
    cluster.add_event(
        "oom-old",
        reason="OOMKilling",
        message="Memory cgroup out of memory: Killed process 1 (offgridflow-api)",
        at=_now(-timedelta(hours=2)),
        involved="offgridflow-api-7d9f-old",
    )


def _stale_oom_state(cluster: KubeFakeEnvironment) -> None:
    _stale_oom_event(cluster)
    cluster.fake.objects.pop(("api/v1", "pods", "offgridflow", API_POD))
    cluster.add_api_pod(
        API_POD,
        restart_count=1,
        last_state={
            "terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": _now(-timedelta(hours=2))}
        },
    )


def _oom_with_event(cluster: KubeFakeEnvironment) -> None:
    cluster.oom_killed_pod()
    cluster.add_event(
        "oom-1",
        reason="OOMKilling",
        message="Memory cgroup out of memory: Killed process 1 (offgridflow-api)",
        at=_now(-timedelta(minutes=1)),
        involved="offgridflow-api-oom",
    )


def _image_pull(cluster: KubeFakeEnvironment) -> None:
    cluster.image_pull_backoff_pod()


def _config_crash(cluster: KubeFakeEnvironment) -> None:
    cluster.crash_looping_pod()


def _postgres_gone(cluster: KubeFakeEnvironment) -> None:
    _delete("api/v1", "pods", "postgres-0")(cluster)
    statefulset = cluster.fake.objects[("apis/apps/v1", "statefulsets", "offgridflow", "postgres")]
    statefulset["status"]["readyReplicas"] = 0


SCENARIOS = [
    Scenario("healthy", "a healthy namespace and API", {"outcome": "healthy", "sections": []}, _then()),
    Scenario(
        "oom",
        "an API pod whose last run was OOMKilled (exit 137), with the namespace's OOM event",
        {"outcome": "diagnosed", "sections": ["Fix 2"]},
        _then(_oom_with_event),
    ),
    Scenario(
        "image-pull",
        "a new API pod in ImagePullBackOff (the registry: not found); the old pod keeps serving",
        {"outcome": "diagnosed", "sections": ["Fix 4"]},
        _then(_image_pull),
    ),
    Scenario(
        "config-crash",
        "a new API pod in CrashLoopBackOff, 'invalid configuration' in its previous logs",
        {"outcome": "diagnosed", "sections": ["Fix 3"]},
        _then(_config_crash),
    ),
    Scenario(
        "db-pod-missing",
        "the postgres pod is gone (StatefulSet 0 ready); pg_isready: no response; the API logs it",
        {"outcome": "diagnosed", "sections": ["Fix 1"]},
        _then(_postgres_gone, _pg(2, "postgres-service:5432 - no response\n"), _api_log(DB_LOG)),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "db-pod-missing-exec-forbidden",
        "the postgres pod is gone and pods/exec is forbidden: pg_isready is unknown, the pods and "
        "the API's logs still show the database down",
        {"outcome": "diagnosed", "sections": ["Fix 1"]},
        _then(_postgres_gone, _exec_forbidden, _api_log(DB_LOG)),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "db-not-ready",
        "the postgres pod runs but is not ready; pg_isready: no response",
        {"outcome": "diagnosed", "sections": ["Fix 1"]},
        _then(_postgres_not_ready, _pg(2, "postgres-service:5432 - no response\n")),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "db-refusing-connections",
        "postgres is ready but pg_isready answers 'rejecting connections' (exit 1)",
        {"outcome": "diagnosed", "sections": ["Fix 1"]},
        _then(_pg(1, "postgres-service:5432 - rejecting connections\n")),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "db-too-many-connections",
        "pg_isready accepts, but the API's database answers 'too many clients already'",
        {"outcome": "diagnosed", "sections": ["Fix 1"]},
        _then(
            _api_log(
                '{"level": "warning", "event": "database unavailable, retrying", '
                '"reason": "FATAL: sorry, too many clients already"}\n'
            )
        ),
        FakeHttp(
            ready=(
                503,
                {
                    "status": "unhealthy",
                    "checks": {"database": "unavailable"},
                    "reason": "FATAL: sorry, too many clients already",
                },
            )
        ),
    ),
    Scenario(
        "no-endpoints",
        "offgridflow-api-service has no endpoints (selector matches no pod); the API URL refuses",
        {"outcome": "diagnosed", "sections": ["Triage 2D"]},
        _then(_no_endpoints),
        FakeHttp(live=REFUSED, ready=REFUSED),
    ),
    Scenario(
        "no-endpoints-exec-forbidden",
        "no endpoints, and pods/exec forbidden: a refused exec is no database failure",
        {"outcome": "diagnosed", "sections": ["Triage 2D"]},
        _then(_no_endpoints, _exec_forbidden),
        FakeHttp(live=REFUSED, ready=REFUSED),
    ),
    Scenario(
        "ingress-missing",
        "the Ingress is gone; the API URL refuses",
        {"outcome": "diagnosed", "sections": ["Triage 2D"]},
        _then(_delete("apis/networking.k8s.io/v1", "ingresses", "offgridflow-api")),
        FakeHttp(live=REFUSED, ready=REFUSED),
    ),
    Scenario(
        "api-hung",
        "the API process hangs: connections are accepted, requests time out (not refused)",
        {"outcome": "unreachable", "sections": ["Triage 1"]},
        _then(),
        FakeHttp(live=httpx.ReadTimeout("timed out"), ready=httpx.ReadTimeout("timed out")),
    ),
    Scenario(
        "monitoring-down",
        "everything answers but Prometheus: no alert could page",
        {"outcome": "inconclusive", "sections": [], "unknown": ["Prometheus"]},
        _then(),
        FakeHttp(prometheus_down=True),
    ),
    Scenario(
        "exec-forbidden",
        "a healthy namespace where pods/exec is forbidden: pg_isready cannot be run",
        {"outcome": "inconclusive", "sections": [], "unknown": ["pg_isready"]},
        _then(_exec_forbidden),
    ),
    Scenario(
        "metrics-api-missing",
        "a healthy namespace without metrics-server: kubectl top cannot answer",
        {"outcome": "inconclusive", "sections": [], "unknown": ["resource usage"]},
        _then(_no_metrics_api),
    ),
    Scenario(
        "no-kubeconfig",
        "a Kubernetes target without a usable kubeconfig; the API answers over HTTP",
        {"outcome": "inconclusive", "sections": [], "unknown": ["API pods", "pg_isready"]},
        _then(),
        no_kubeconfig=True,
    ),
    Scenario(
        "oom-and-db-down",
        "two causes at once: an OOM-killed API pod and the postgres pod gone",
        {"outcome": "diagnosed", "sections": ["Fix 1", "Fix 2"]},
        _then(_oom_with_event, _postgres_gone, _pg(2, "postgres-service:5432 - no response\n")),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "only-stale-events",
        "a healthy API whose only events are two hours old (an OOM kill of a pod long gone)",
        {"outcome": "healthy", "sections": []},
        _then(_stale_oom_event),
    ),
    Scenario(
        "stale-events-oom-state",
        "the OOM event is two hours old, but the pod's lastState still says OOMKilled: state decides",
        {"outcome": "diagnosed", "sections": ["Fix 2"]},
        _then(_stale_oom_state),
    ),
]


def seed(scenario: Scenario, directory: Path) -> Path:
    fake = KubeFake()
    running = start(fake)
    cluster = KubeFakeEnvironment(fake, write_kubeconfig(directory / "kubeconfig", fake.url))
    try:
        scenario.seed(cluster)
        target = replace(
            cluster.target,
            name="kind",
            base_url="http://api.unit.test",
            metrics_url="http://api.unit.test:8081/metrics",
            prometheus_url="http://prometheus.unit.test",
            token_env="UNIT_TEST_TOKEN",
            kubeconfig=str(directory / "missing-kubeconfig")
            if scenario.no_kubeconfig
            else cluster.target.kubeconfig,
        )
        access = open_platform(target)
        try:
            observations = look(
                target,
                scenario.http,
                access.platform,
                rules=rules_file(directory),
                platform_reason=access.reason,
            )
        finally:
            access.close()
        meta = {
            "name": scenario.name,
            "description": scenario.description,
            "origin": "seeded: the real KubernetesPlatform against the Kubernetes API fake "
            "(tests/runbook/triage/seed_scenarios.py), until the kind cluster's recordings replace it",
            "expected": scenario.expected,
        }
        return record.save(observations, OUT / f"{scenario.name}.json", scenario=meta)
    finally:
        cluster.close()
        stop(running)


def main() -> None:
    import os
    import tempfile

    os.environ["UNIT_TEST_TOKEN"] = TOKEN
    with tempfile.TemporaryDirectory() as scratch:
        for scenario in SCENARIOS:
            print(seed(scenario, Path(scratch)))


if __name__ == "__main__":
    main()
