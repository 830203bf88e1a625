"""The runbook's reads and one fix against the real kind cluster (skipped where kind cannot run)."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import httpx
import pytest

from helpers.kind_pods import settled
from offgridflow_runbook.platforms import platform_for
from offgridflow_runbook.runbook.triage import Cause, diagnose
from offgridflow_runbook.runbook.verification import verify

pytestmark = pytest.mark.kind


@pytest.fixture(scope="module")
def kind_target(kind_session):
    return kind_session.target(kind_session.settings.config_file.parent / "targets.yaml")


@pytest.fixture(scope="module")
def kind_platform(kind_target):
    platform = platform_for(kind_target)
    yield platform
    platform.close()


def test_api_pods_are_running_ready_without_restarts(kind_platform):
    # the HorizontalPodAutoscaler may be adding pods (after a game day's load): those get a bounded
    # while to become ready; a pod that restarted stays a failure
    kind_platform.wait_rollout(timeout=180)
    deadline = time.monotonic() + 120
    workloads = kind_platform.api_workloads()
    while not all(w.ready for w in workloads) and time.monotonic() < deadline:
        time.sleep(2)
        workloads = kind_platform.api_workloads()
    assert workloads, "no offgridflow-api pods"
    for workload in workloads:
        settled_state = (workload.phase, workload.ready, workload.restart_count)
        assert settled_state == ("Running", True, 0), why_not_settled(kind_platform, workload)


def why_not_settled(platform, workload) -> str:
    """The pod, how its last run ended and its warning events: a restart says why it happened."""
    ended = workload.last_termination
    lines = [
        f"{workload.name}: {workload.phase}, ready={workload.ready}, restarts={workload.restart_count}, "
        f"started {workload.started_at}",
        f"  last run ended: {ended.reason} (exit {ended.exit_code}) at {ended.finished_at}"
        if ended
        else "  no last run recorded",
    ]
    # this pod's own events (a StatefulSet's pod of the same name before it has other UIDs), the last ten
    warnings = [
        event
        for event in platform.events()
        if event.type == "Warning"
        and event.involved == workload.name
        and event.involved_uid in (None, workload.uid)
    ]
    lines += [f"  {event.at:%H:%M:%S} {event.reason}: {event.message.strip()}" for event in warnings[-10:]]
    return "\n".join(lines)


def test_rollout_is_complete(kind_platform):
    status = kind_platform.rollout_status()
    assert status.complete, status.message


def test_database_is_reachable_from_the_api_pod(kind_platform):
    kind_platform.wait_database_ready(timeout=120)
    result = kind_platform.pg_isready()
    assert result.exit_code == 0, result.output


def test_service_has_ready_endpoints_and_an_ingress(kind_platform):
    network = kind_platform.network()
    assert network.ready_endpoints >= 1, network.detail
    assert network.ingresses


def test_metrics_server_answers_kubectl_top(kind_platform):
    # metrics-server lists a pod only after two scrapes of it; on a cluster made minutes ago the
    # API pods can be younger than that, so wait (bounded) instead of reading once
    deadline = time.monotonic() + 180
    usages = kind_platform.resource_usage()
    while len(usages) < len(kind_platform.api_workloads()) and time.monotonic() < deadline:
        time.sleep(5)
        usages = kind_platform.resource_usage()
    assert usages, "metrics-server listed no offgridflow-api pod within 180 s"
    assert all(u.memory_bytes > 0 and u.memory_limit_bytes for u in usages)


def test_restart_rolls_out_and_keeps_the_api_healthy(kind_platform):
    kind_platform.rollout_restart()
    status = kind_platform.wait_rollout(timeout=180)
    assert status.complete, status.message
    workloads = settled(kind_platform)
    assert len(workloads) == 2, workloads
    assert all(w.ready for w in workloads), workloads


def test_the_runbooks_verification_passes_on_the_fresh_cluster(kind_target, kind_platform):
    # after the restart test: the old ReplicaSet's pods must be gone before the runbook's "all pods"
    kind_platform.wait_rollout(timeout=180)
    settled(kind_platform)
    report = verify(kind_target, kind_platform)
    assert report.passed, [f"{s.step}: {s.message}" for s in report.failures]


def test_diagnose_finds_the_fresh_cluster_healthy(kind_target, kind_platform):
    diagnosis = diagnose(kind_target, kind_platform)
    assert diagnosis.cause is Cause.HEALTHY, diagnosis


KIND_UP = Path(__file__).resolve().parents[2] / "scripts" / "kind-up.sh"
OFFLINE_IMAGES = "offgridflow.local/kind/"


def _registry_digests(repository: str) -> set[str]:
    """The digests of every tag of ``repository`` in the registry kind-up pushes to (its port read
    from kind-up.sh, where it is set)."""
    port = re.search(r"^registry_port=(\d+)$", KIND_UP.read_text(encoding="utf-8"), re.MULTILINE)
    assert port, f"no registry_port= line in {KIND_UP}"
    base = f"http://127.0.0.1:{port[1]}/v2/{repository}"
    accept = (
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
    )
    with httpx.Client(timeout=10) as client:
        tags = client.get(f"{base}/tags/list").raise_for_status().json()["tags"] or []
        return {
            client.head(f"{base}/manifests/{tag}", headers={"Accept": accept}).headers[
                "Docker-Content-Digest"
            ]
            for tag in tags
        }


def test_the_offline_images_run_by_the_digest_last_pushed_to_the_registry(kind_session):
    # kind-up pins the images it builds by the digest it pushed: under their fixed tags and
    # IfNotPresent, a reused cluster kept running a Prometheus and a PostgreSQL rebuilt since
    running = set()
    for namespace in ("offgridflow", "monitoring"):
        pods = json.loads(kind_session.kubectl("-n", namespace, "get", "pods", "-o", "json", timeout=60))
        for pod in pods["items"]:
            for container in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
                if container["image"].startswith(OFFLINE_IMAGES):
                    running.add(container["image"])
    if os.environ.get("KIND_NODE_IMAGE"):
        # kind-up then applies overlays/kind, with the upstream images (pulled, pinned by their tags)
        assert running == set(), "the upstream overlay runs images of the offline one"
        return
    assert running, "no pod runs an image of the offline overlay"
    for image in sorted(running):
        name, _, digest = image.partition("@")
        assert digest, f"{image} is not pinned by digest"
        repository = name.removeprefix("offgridflow.local/")
        assert digest in _registry_digests(repository), (
            f"{image}: the registry holds another build of {repository}"
        )


def test_the_offline_nodes_kubelet_runs_the_cgroupfs_driver(kind_session):
    # under the systemd driver an OOM kill could be reported "Error", not "OOMKilled" (docs/kind-offline.md);
    # what the running kubelet uses, not what the image says: a reused cluster may be older
    if os.environ.get("KIND_NODE_IMAGE"):
        pytest.skip("the cgroup driver is checked on the offline node only (KIND_NODE_IMAGE is set)")
    nodes = json.loads(kind_session.kubectl("get", "nodes", "-o", "json", timeout=60))["items"]
    assert nodes, "the cluster has no node"
    for node in nodes:
        name = node["metadata"]["name"]
        configz = json.loads(
            kind_session.kubectl("get", "--raw", f"/api/v1/nodes/{name}/proxy/configz", timeout=60)
        )
        assert configz["kubeletconfig"]["cgroupDriver"] == "cgroupfs", f"{name}: {configz['kubeletconfig']}"


def corefile_directives(corefile: str) -> set[str]:
    """The first word of every line directly inside a server block (``.:53 { ... }``)."""
    directives, depth = set(), 0
    for line in corefile.splitlines():
        words = line.split("#", 1)[0].split()
        if words and depth == 1 and words[0] != "}":
            directives.add(words[0])
        depth += line.count("{") - line.count("}")
    return directives


def test_every_directive_of_the_clusters_corefile_is_a_plugin_its_coredns_has(kind_session):
    # the offline node's CoreDNS has fewer plugins than upstream's (tools/cluster/coredns/_overlay): a
    # Corefile naming one it lacks would leave the cluster without DNS
    if os.environ.get("KIND_NODE_IMAGE"):
        pytest.skip("CoreDNS's plugins are checked on the offline node only (KIND_NODE_IMAGE is set)")
    configmap = kind_session.kubectl(
        "-n", "kube-system", "get", "configmap", "coredns", "-o", "json", timeout=60
    )
    corefile = json.loads(configmap)["data"]["Corefile"]
    directives = corefile_directives(corefile)
    assert {"kubernetes", "forward", "cache"} <= directives, corefile
    listed = kind_session.kubectl(
        "-n", "kube-system", "exec", "deploy/coredns", "--", "coredns", "-plugins", timeout=60
    )
    assert directives - set(listed.split()) == set(), listed
