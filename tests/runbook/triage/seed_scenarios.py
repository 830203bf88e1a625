"""Seeds the Kubernetes scenarios of the triage corpus (``tests/runbook/triage/scenarios/kubernetes/``).

Until recordings from the real kind cluster replace them (``offgridflow-runbook diagnose --target
kind --record FILE``), each Kubernetes scenario is one look taken by the real ``KubernetesPlatform``
against the HTTP Kubernetes API fake (``helpers.kube_fake_server``), seeded as a cluster shows that state,
with the API's and Prometheus' answers from ``helpers.triage_fakes.FakeHttp``. The look is saved in the same
record format as ``diagnose --record``, with the label of the seeded fault (written before the look) and
why it is seeded rather than recorded from a real system.

Run from the repository root: ``.venv/bin/python tests/runbook/triage/seed_scenarios.py [NAME ...]``.
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
from helpers.triage_corpus import cannot_see, hung, label, scenario_block  # noqa: E402
from helpers.triage_fakes import TOKEN, FakeHttp, look, rules_file  # noqa: E402
from offgridflow_runbook.probes import record  # noqa: E402
from offgridflow_runbook.probes.platform import open_platform  # noqa: E402
from offgridflow_runbook.runbook.triage import NOT_COVERED, decide  # noqa: E402

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
    label: dict[str, Any]  # written from the fault seeded, before the look
    why_not_real: str  # why this state is seeded rather than (only) recorded from a real system
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


def _config_key_missing(cluster: KubeFakeEnvironment) -> None:
    cluster.add_api_pod(
        "offgridflow-api-newconfig",
        phase="Pending",
        ready=False,
        state={
            "waiting": {
                "reason": "CreateContainerConfigError",
                "message": "couldn't find key OFFGRIDFLOW_DB_POOL_MAX in ConfigMap "
                "offgridflow/offgridflow-config-v2",
            }
        },
    )


def _scaled_to_zero(cluster: KubeFakeEnvironment) -> None:
    cluster.fake.objects.pop(("api/v1", "pods", "offgridflow", API_POD))
    deployment = cluster.fake.objects[("apis/apps/v1", "deployments", "offgridflow", "offgridflow-api")]
    deployment["spec"]["replicas"] = 0
    deployment["status"].update(replicas=0, updatedReplicas=0, availableReplicas=0, readyReplicas=0)


def _relabel_api_pod(cluster: KubeFakeEnvironment) -> None:
    pod = cluster.fake.objects[("api/v1", "pods", "offgridflow", API_POD)]
    pod["metadata"]["labels"]["app"] = "offgridflow-api-v2"


def _postgres_gone(cluster: KubeFakeEnvironment) -> None:
    _delete("api/v1", "pods", "postgres-0")(cluster)
    statefulset = cluster.fake.objects[("apis/apps/v1", "statefulsets", "offgridflow", "postgres")]
    statefulset["status"]["readyReplicas"] = 0


# Why a seeded state has no recording from a real system (the rest are recorded on kind or Docker too,
# and kept here as the driver-level regression of the same state).
ALSO_REAL = "recorded for real too ({where}); this seed predates that recording and is kept as a regression"
NOT_MADE_ON_KIND = (
    "not made on the kind cluster yet (the lead records new real states; this session cannot run a cluster)"
)
EVENTS_EXPIRE = "kind's API server keeps events for one hour, so an event two hours old cannot be shown there"

SCENARIOS = [
    Scenario(
        "healthy",
        "a healthy namespace and API",
        label("nothing broken", "healthy", "healthy"),
        ALSO_REAL.format(where="kind/healthy, docker/healthy"),
        _then(),
    ),
    Scenario(
        "oom",
        "an API pod whose last run was OOMKilled (exit 137), with the namespace's OOM event",
        label("the API's last run OOM-killed at its memory limit", "oom", "diagnosed", ("Fix 2",)),
        ALSO_REAL.format(where="kind/oom, docker/oom"),
        _then(_oom_with_event),
    ),
    Scenario(
        "image-pull",
        "a new API pod in ImagePullBackOff (the registry: not found); the old pod keeps serving",
        label("a rollout to an image tag the registry does not have", "image", "diagnosed", ("Fix 4",)),
        ALSO_REAL.format(where="kind/image-pull, docker/image-pull"),
        _then(_image_pull),
    ),
    Scenario(
        "config-crash",
        "a new API pod in CrashLoopBackOff, 'invalid configuration' in its previous logs",
        label(
            "a bad configuration value rolled out: the new pod crash-loops", "config", "diagnosed", ("Fix 3",)
        ),
        ALSO_REAL.format(where="kind/config-crash, docker/config-crash"),
        _then(_config_crash),
    ),
    Scenario(
        "config-key-missing",
        "a rollout whose pods name a ConfigMap key that does not exist: the new pod waits in "
        "CreateContainerConfigError, the old one serves",
        label(
            "a rollout pointing the API at a ConfigMap without a key it needs (OFFGRIDFLOW_DB_POOL_MAX)",
            "config",
            "diagnosed",
            ("Fix 3",),
            mentions=("couldn't find key OFFGRIDFLOW_DB_POOL_MAX",),
        ),
        ALSO_REAL.format(where="kind/config-key-missing"),
        _then(_config_key_missing),
    ),
    Scenario(
        "db-pod-missing",
        "the postgres pod is gone (StatefulSet 0 ready); pg_isready: no response; the API logs it",
        label("the postgres pod gone", "database", "diagnosed", ("Fix 1",)),
        ALSO_REAL.format(where="kind/db-pod-missing"),
        _then(_postgres_gone, _pg(2, "postgres-service:5432 - no response\n"), _api_log(DB_LOG)),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "db-pod-missing-exec-forbidden",
        "the postgres pod is gone and pods/exec is forbidden: pg_isready is unknown, the pods and "
        "the API's logs still show the database down",
        label(
            "two faults: the postgres pod gone, and a reader whose Role lacks pods/exec",
            "two-faults",
            "diagnosed",
            ("Fix 1",),
            unknown=("pg_isready",),
        ),
        NOT_MADE_ON_KIND,
        _then(_postgres_gone, _exec_forbidden, _api_log(DB_LOG)),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "db-not-ready",
        "the postgres pod runs but is not ready; pg_isready: no response",
        label("the postgres pod running but not ready", "database", "diagnosed", ("Fix 1",)),
        ALSO_REAL.format(where="kind/db-not-ready"),
        _then(_postgres_not_ready, _pg(2, "postgres-service:5432 - no response\n")),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "db-refusing-connections",
        "postgres is ready but pg_isready answers 'rejecting connections' (exit 1)",
        label(
            "PostgreSQL itself refusing connections (starting, shutting down or recovering): "
            "pg_isready's own answer, exit 1",
            "database",
            "diagnosed",
            ("Fix 1",),
        ),
        "NO REAL RECORDING: PostgreSQL answers 'rejecting connections' only while it starts, stops "
        "or recovers (about a second on kind and Docker); no look has caught that window yet, so "
        "this state exists in the corpus only as this seed",
        _then(_pg(1, "postgres-service:5432 - rejecting connections\n")),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "db-too-many-connections",
        "pg_isready accepts, but the API's database answers 'too many clients already'",
        label(
            "every PostgreSQL connection slot taken: the database refuses the API's role",
            "database",
            "diagnosed",
            ("Fix 1",),
        ),
        ALSO_REAL.format(where="kind/db-too-many-connections"),
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
        "db-unreachable-from-api",
        "every postgres pod running and ready, yet pg_isready from the API pod gets no response and the "
        "API says its database is unavailable (what the issue saw on kind: triage named Fix 1)",
        label(
            "the path from the API to a healthy database broken (a NetworkPolicy, postgres-service's "
            "selector or DNS): the database itself runs and is ready",
            "database-path",
            "diagnosed",
            (NOT_COVERED,),
            mentions=("every database pod is running and ready", "the runbook has no section"),
            should_name="the database is seen ready but the API cannot reach it: the path between them",
            remedy="Fix 1 restarts a database that runs: it would not help",
        ),
        ALSO_REAL.format(where="kind/db-unreachable-from-api"),
        _then(_pg(2, "postgres-service:5432 - no response\n"), _api_log(DB_LOG)),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "no-endpoints",
        "offgridflow-api-service has no endpoints (selector matches no pod); the API URL refuses",
        label("offgridflow-api-service's selector matching no pod", "network", "diagnosed", ("Triage 2D",)),
        ALSO_REAL.format(where="kind/no-endpoints"),
        _then(_no_endpoints),
        FakeHttp(live=REFUSED, ready=REFUSED),
    ),
    Scenario(
        "no-endpoints-exec-forbidden",
        "no endpoints, and pods/exec forbidden: a refused exec is no database failure",
        label(
            "two faults: offgridflow-api-service without endpoints, and a reader without pods/exec",
            "two-faults",
            "diagnosed",
            ("Triage 2D",),
            unknown=("pg_isready",),
        ),
        NOT_MADE_ON_KIND,
        _then(_no_endpoints, _exec_forbidden),
        FakeHttp(live=REFUSED, ready=REFUSED),
    ),
    Scenario(
        "ingress-missing",
        "the Ingress is gone; the API URL refuses",
        label("the Ingress deleted", "network", "diagnosed", ("Triage 2D",)),
        ALSO_REAL.format(where="kind/ingress-missing"),
        _then(_delete("apis/networking.k8s.io/v1", "ingresses", "offgridflow-api")),
        FakeHttp(live=REFUSED, ready=REFUSED),
    ),
    Scenario(
        "api-hung",
        "the API process hangs: connections are accepted, requests time out (not refused)",
        hung("the API process hung: connections accepted, no answer", "timed out"),
        ALSO_REAL.format(where="kind/api-hung, docker/api-hung"),
        _then(),
        FakeHttp(live=httpx.ReadTimeout("timed out"), ready=httpx.ReadTimeout("timed out")),
    ),
    Scenario(
        "api-scaled-to-zero",
        "deployment/offgridflow-api scaled to 0: no API pod, the URL refuses",
        label(
            "the API's Deployment scaled to 0 replicas",
            "instance",
            "unreachable",
            ("Triage 1",),
            mentions=("scaled to 0",),
            remedy="scale it back; the runbook has no Fix for it: Triage 1 confirms, and says why",
        ),
        ALSO_REAL.format(where="kind/api-scaled-to-zero"),
        _then(_scaled_to_zero),
        FakeHttp(live=REFUSED, ready=REFUSED),
    ),
    Scenario(
        "api-pods-labelled-otherwise",
        "the API's pods carry app=offgridflow-api-v2, not the label triage selects: no pod found, "
        "yet the API answers every request (what the issue saw on kind: triage said unreachable)",
        cannot_see(
            "nothing broken in the API (it answers); the pods carry another app label than the one "
            "the runbook selects, so the platform view misses them",
            "API pods",
            mentions=("yet the API answers",),
        ),
        NOT_MADE_ON_KIND,
        _then(_relabel_api_pod),
    ),
    Scenario(
        "monitoring-down",
        "everything answers but Prometheus: no alert could page",
        cannot_see("Prometheus down; the API fine", "Prometheus"),
        ALSO_REAL.format(where="kind/monitoring-down, docker/monitoring-down"),
        _then(),
        FakeHttp(prometheus_down=True),
    ),
    Scenario(
        "exec-forbidden",
        "a healthy namespace where pods/exec is forbidden: pg_isready cannot be run",
        cannot_see("nothing broken; the reader's Role lacks pods/exec", "pg_isready"),
        ALSO_REAL.format(where="kind/exec-forbidden"),
        _then(_exec_forbidden),
    ),
    Scenario(
        "metrics-api-missing",
        "a healthy namespace without metrics-server: kubectl top cannot answer",
        cannot_see("nothing broken in the API; metrics-server gone", "resource usage"),
        ALSO_REAL.format(where="kind/metrics-api-missing"),
        _then(_no_metrics_api),
    ),
    Scenario(
        "no-kubeconfig",
        "a Kubernetes target without a usable kubeconfig; the API answers over HTTP",
        cannot_see(
            "nothing broken in the API; the target's kubeconfig does not exist", "API pods", "pg_isready"
        ),
        "needs no cluster: a kubeconfig path that does not exist is the whole state, the same on any",
        _then(),
        no_kubeconfig=True,
    ),
    Scenario(
        "oom-and-db-down",
        "two causes at once: an OOM-killed API pod and the postgres pod gone",
        label(
            "two faults: the API OOM-killed and the postgres pod gone",
            "two-faults",
            "diagnosed",
            ("Fix 1", "Fix 2"),
        ),
        "recorded for real on Docker (docker/oom-and-db-down); " + NOT_MADE_ON_KIND,
        _then(_oom_with_event, _postgres_gone, _pg(2, "postgres-service:5432 - no response\n")),
        FakeHttp(ready=DB_DOWN_READY),
    ),
    Scenario(
        "only-stale-events",
        "a healthy API whose only events are two hours old (an OOM kill of a pod long gone)",
        label("nothing broken now; an OOM kill two hours ago, of a pod long gone", "healthy", "healthy"),
        EVENTS_EXPIRE + "; recorded for real on Docker (docker/only-stale-events)",
        _then(_stale_oom_event),
    ),
    Scenario(
        "stale-events-oom-state",
        "the OOM event is two hours old, but the pod's lastState still says OOMKilled: state decides",
        label(
            "the API's last run OOM-killed two hours ago; the pod still says so",
            "oom",
            "diagnosed",
            ("Fix 2",),
        ),
        EVENTS_EXPIRE,
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
        origin = {
            "class": "seeded",
            "by": f"tests/runbook/triage/seed_scenarios.py::{scenario.name}: the real KubernetesPlatform "
            "against the Kubernetes API fake",
            "why_not_real": scenario.why_not_real,
        }
        meta = scenario_block(
            scenario.name, scenario.description, origin, scenario.label, decide(observations)
        )
        return record.save(observations, OUT / f"{scenario.name}.json", scenario=meta)
    finally:
        cluster.close()
        stop(running)


def main(names: list[str]) -> None:
    """Seed every scenario, or only those ``names``."""
    import os
    import tempfile

    unknown = set(names) - {scenario.name for scenario in SCENARIOS}
    if unknown:
        raise SystemExit(f"no such scenario: {', '.join(sorted(unknown))}")
    os.environ["UNIT_TEST_TOKEN"] = TOKEN
    with tempfile.TemporaryDirectory() as scratch:
        for scenario in SCENARIOS:
            if not names or scenario.name in names:
                print(seed(scenario, Path(scratch)))


if __name__ == "__main__":
    main(sys.argv[1:])
