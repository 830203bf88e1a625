"""The driver's requests equal those of the real kubectl binary for each runbook command.

Each command runs twice on identically seeded fakes: once as the runbook's ``kubectl`` command
(the installed binary, pointed at the fake), once as the driver's method. The write requests must
be identical (method, path, query, content type, body); the reads the driver makes must be
requests kubectl makes too. Normalised away: the restartedAt timestamp, fields Go prints as null,
kubectl-only query parameters for table printing and paging, and discovery requests.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.kube_fake_environment import KubeFakeEnvironment
from helpers.kube_fake_server import KubeFake, start, stop, write_kubeconfig

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl not found on PATH: this comparison runs the real binary"
)

KUBECTL_TIMEOUT_SECONDS = 60
PG_ISREADY = ["pg_isready", "-h", "postgres-service", "-p", "5432"]
_KUBECTL_ONLY_PARAMS = {"includeObject", "limit", "timeout"}
_RUNBOOK_PATCH = (
    '{"spec":{"template":{"spec":{"containers":[{"name":"api",'
    '"resources":{"limits":{"memory":"2Gi"},"requests":{"memory":"1Gi"}}}]}}}}'
)


def _seed(environment: KubeFakeEnvironment) -> None:
    environment.seed_runbook_namespace()
    environment.add_api_pod(
        "offgridflow-api-1", restart_count=1, last_state={"terminated": {"reason": "Error", "exitCode": 78}}
    )
    environment.set_log("offgridflow-api-1", "invalid configuration\n", previous=True)
    environment.add_pod_metrics("offgridflow-api-1", memory="100Mi", cpu="10m")


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[KubeFakeEnvironment]:
    """A second fake, seeded like ``kube_fake``, for kubectl to talk to."""
    fake = KubeFake()
    running = start(fake)
    environment = KubeFakeEnvironment(fake, write_kubeconfig(tmp_path / "kubectl-kubeconfig", fake.url))
    try:
        yield environment
    finally:
        environment.close()
        stop(running)


def _kubectl(environment: KubeFakeEnvironment, command: list[str], cache: Path) -> None:
    result = subprocess.run(
        [
            str(KUBECTL),
            "--kubeconfig",
            str(environment.kubeconfig),
            f"--cache-dir={cache}",
            "-n",
            "offgridflow",
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _normal(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("<timestamp>" if k == "kubectl.kubernetes.io/restartedAt" else _normal(v))
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def _api_requests(fake: KubeFake) -> list[Any]:
    return [
        r
        for r in fake.requests
        if "/namespaces/" in r.path  # discovery and /version are kubectl's alone
    ]


def _writes(fake: KubeFake) -> list[tuple[Any, ...]]:
    return [
        (r.method, r.path, r.query, r.content_type, _normal(r.body))
        for r in _api_requests(fake)
        if r.method != "GET"
    ]


def _reads(fake: KubeFake) -> set[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]]:
    return {
        (r.path, tuple(sorted((k, tuple(v)) for k, v in r.query.items() if k not in _KUBECTL_ONLY_PARAMS)))
        for r in _api_requests(fake)
        if r.method == "GET"
    }


Operation = Callable[[Any], Any]

CASES: list[tuple[str, str, Operation]] = [
    ("Quick fix", "rollout restart deployment/offgridflow-api", lambda p: p.rollout_restart()),
    ("Fix 1", "rollout restart statefulset/postgres", lambda p: p.restart_database()),
    ("Fix 2", f"patch deployment offgridflow-api -p {_RUNBOOK_PATCH}", lambda p: p.patch_memory()),
    ("Fix 3", "rollout undo deployment/offgridflow-api", lambda p: p.rollout_undo()),
    (
        "Fix 4",
        "set image deployment/offgridflow-api api=ghcr.io/your-org/offgridflow-api:v1.2.3",
        lambda p: p.set_image("ghcr.io/your-org/offgridflow-api:v1.2.3"),
    ),
    (
        "Fix 4 same tag",
        "set image deployment/offgridflow-api api=127.0.0.1:5000/offgridflow-api:v1.3.0",
        lambda p: p.set_image("127.0.0.1:5000/offgridflow-api:v1.3.0"),
    ),
    ("DB kill", "delete pod -l app=postgres --grace-period=1", lambda p: p.kill_database()),
    ("Triage 1 pods", "get pods -l app=offgridflow-api", lambda p: p.api_workloads()),
    ("Triage 1 logs", "logs -l app=offgridflow-api --tail=100", lambda p: p.api_logs(tail=100)),
    (
        "Triage 2A",
        "logs -l app=offgridflow-api --tail=100 --previous",
        lambda p: p.api_logs(tail=100, previous=True),
    ),
    ("Triage 2B", "get pods -l app=postgres", lambda p: p.database_workloads()),
    ("Fix 2 events", "get events --sort-by=.lastTimestamp", lambda p: p.events()),
    # The runbook's 2C pairs `kubectl top` with `kubectl describe pod ... | grep Limits`.
    (
        "Triage 2C",
        "top pods -l app=offgridflow-api; describe pod -l app=offgridflow-api",
        lambda p: p.resource_usage(),
    ),
    # Fix 3 reads the history and the ConfigMap; the driver's history names each revision's config.
    (
        "Fix 3 history",
        "rollout history deployment/offgridflow-api; get configmap offgridflow-config -o yaml",
        lambda p: p.rollout_history(),
    ),
]


@pytest.mark.parametrize(("step", "command", "operation"), CASES, ids=[c[0] for c in CASES])
def test_driver_sends_what_kubectl_sends(kube_fake, twin, tmp_path, step, command, operation):
    _seed(kube_fake)
    _seed(twin)
    for one_command in command.split("; "):
        _kubectl(twin, one_command.split(" "), tmp_path / "kubectl-cache")
    operation(kube_fake.platform())
    assert _writes(kube_fake.fake) == _writes(twin.fake), step
    missing = _reads(kube_fake.fake) - _reads(twin.fake)
    assert not missing, f"{step}: the driver reads what kubectl does not: {sorted(missing)}"


def test_pg_isready_execs_like_kubectl(kube_fake, twin, tmp_path):
    _seed(kube_fake)
    _seed(twin)
    _kubectl(twin, ["exec", "deployment/offgridflow-api", "--", *PG_ISREADY], tmp_path)
    kube_fake.platform().pg_isready()

    def exec_query(fake: KubeFake) -> dict[str, list[str]]:
        [request] = [r for r in fake.requests if r.path.endswith("/exec")]
        return request.query

    assert exec_query(kube_fake.fake) == exec_query(twin.fake)
