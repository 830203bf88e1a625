"""Cross-check against a second, independent API fake: kmock's KubernetesEmulator over HTTP.

kmock serves from an asyncio loop; the ``kubernetes`` client is synchronous, so the emulator runs
in its own loop in a background thread (kmock's own async ``kmock`` fixture would block). kmock
ignores label selectors and applies every patch as a plain JSON merge, so it is used here only
where that does not matter: reads of seeded pods and the requests the driver sends.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kmock
import pytest

from helpers.kube_fake_seed import container
from helpers.kube_fake_server import write_kubeconfig
from offgridflow_runbook.platforms.kubernetes.driver import KubernetesPlatform
from offgridflow_runbook.targets import Target

START_TIMEOUT_SECONDS = 10.0


@dataclass
class KmockCluster:
    handler: kmock.KubernetesEmulator
    target: Target

    def requests(self) -> list[kmock.Request]:
        return list(self.handler)


@pytest.fixture
def kmock_cluster(tmp_path: Path) -> Iterator[KmockCluster]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="kmock", daemon=True)
    thread.start()
    handler = kmock.KubernetesEmulator()
    server = kmock.Server(handler)

    async def start() -> None:
        await handler.__aenter__()
        await server.__aenter__()

    async def stop() -> None:
        await server.__aexit__(None, None, None)
        await handler.__aexit__(None, None, None)

    asyncio.run_coroutine_threadsafe(start(), loop).result(START_TIMEOUT_SECONDS)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", str(server.url).rstrip("/"))
    target = Target(
        name="kmock",
        platform="kubernetes",
        base_url="http://127.0.0.1:9",
        kube_context="kube-fake",
        kubeconfig=str(kubeconfig),
    )
    try:
        yield KmockCluster(handler, target)
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(START_TIMEOUT_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=START_TIMEOUT_SECONDS)
        loop.close()


def _pod(name: str, status: dict) -> dict:
    return {
        "metadata": {"name": name, "namespace": "offgridflow", "labels": {"app": "offgridflow-api"}},
        "spec": {"containers": [container(limits={"memory": "512Mi"})]},
        "status": status,
    }


def test_workloads_map_the_same_over_kmock(kmock_cluster):
    kmock_cluster.handler.objects["v1/pods", "offgridflow", "api-oom"] = _pod(
        "api-oom",
        {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "api",
                    "restartCount": 2,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:10Z"}},
                    "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}},
                }
            ],
        },
    )
    kmock_cluster.handler.objects["v1/pods", "offgridflow", "api-pull"] = _pod(
        "api-pull",
        {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": "api",
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}},
                }
            ],
        },
    )
    platform = KubernetesPlatform(kmock_cluster.target)
    try:
        workloads = {w.name: w for w in platform.api_workloads()}
    finally:
        platform.close()
    assert workloads["api-oom"].last_termination is not None
    assert workloads["api-oom"].last_termination.oom_killed
    assert (workloads["api-oom"].restart_count, workloads["api-oom"].ready) == (2, True)
    assert workloads["api-oom"].memory_limit_bytes == 512 * 1024**2
    assert (workloads["api-pull"].waiting_reason, workloads["api-pull"].ready) == ("ErrImagePull", False)
    [request] = kmock_cluster.requests()
    assert (request.method, request.url.path, dict(request.params)) == (
        "GET",
        "/api/v1/namespaces/offgridflow/pods",
        {"labelSelector": "app=offgridflow-api"},
    )


def test_set_image_request_as_kmock_records_it(kmock_cluster):
    deployment = {
        "metadata": {"name": "offgridflow-api", "namespace": "offgridflow", "uid": "u1"},
        "spec": {"template": {"spec": {"containers": [container(), container(name="sidecar")]}}},
    }
    kmock_cluster.handler.objects["apps/v1/deployments", "offgridflow", "offgridflow-api"] = deployment
    platform = KubernetesPlatform(kmock_cluster.target)
    try:
        platform.set_image("ghcr.io/your-org/offgridflow-api:v1.2.3")
    finally:
        platform.close()
    patch = kmock_cluster.requests()[-1]
    assert patch.method == "PATCH"
    assert patch.url.path == "/apis/apps/v1/namespaces/offgridflow/deployments/offgridflow-api"
    assert patch.headers["Content-Type"] == "application/strategic-merge-patch+json"
    assert dict(patch.params) == {"fieldManager": "kubectl-set"}
    assert patch.data == {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "api"}, {"name": "sidecar"}],
                    "containers": [{"image": "ghcr.io/your-org/offgridflow-api:v1.2.3", "name": "api"}],
                }
            }
        }
    }
