"""The Kubernetes driver's changing operations, the ones the runbook's fixes use, against the real
kind cluster: each is applied through the API server, rolled out by the real controllers, seen in
the pods, and undone so the cluster is left as it was."""

from __future__ import annotations

import http.client
import os
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from helpers.kind_pods import settled
from offgridflow_runbook.gameday.proposals import FIX_5_COMMANDS
from offgridflow_runbook.platforms import platform_for

pytestmark = pytest.mark.kind

ROLLOUT_S = 240
KUBE_PROXY_S = 10  # from an Endpoints change to the node's service rules, with room for a busy node
MiB = 2**20


@pytest.fixture(scope="module")
def kind_platform(kind_session):
    target = kind_session.target(kind_session.settings.config_file.parent / "targets.yaml")
    platform = platform_for(target)
    platform.wait_rollout(timeout=ROLLOUT_S)
    yield platform
    platform.close()


def test_patching_memory_rolls_out_the_new_limit_and_rollout_undo_brings_the_old_one_back(kind_platform):
    before = {pod.memory_limit_bytes for pod in settled(kind_platform)}
    kind_platform.patch_memory(limit="768Mi", request="256Mi")
    assert kind_platform.wait_rollout(timeout=ROLLOUT_S).complete
    patched = settled(kind_platform)
    assert {(p.memory_limit_bytes, p.memory_request_bytes) for p in patched} == {(768 * MiB, 256 * MiB)}
    assert all(p.ready for p in patched)
    kind_platform.rollout_undo()
    assert kind_platform.wait_rollout(timeout=ROLLOUT_S).complete
    assert {pod.memory_limit_bytes for pod in settled(kind_platform)} == before


def test_setting_the_known_good_image_rolls_it_out_from_the_clusters_registry(kind_platform):
    deployed = kind_platform.api_workloads()[0].image
    repository = deployed.rsplit(":", 1)[0]
    kind_platform.set_image(f"{repository}:v1.2.3")
    try:
        assert kind_platform.wait_rollout(timeout=ROLLOUT_S).complete
        pods = settled(kind_platform)
        assert {p.image for p in pods} == {f"{repository}:v1.2.3"}
        assert all(p.ready for p in pods)
    finally:
        kind_platform.set_image(deployed)
        kind_platform.wait_rollout(timeout=ROLLOUT_S)
    assert {p.image for p in settled(kind_platform)} == {deployed}


def test_restarting_the_database_replaces_its_pod_and_waits_until_it_is_ready(kind_platform, kind_session):
    before = {pod.uid for pod in kind_platform.database_workloads()}
    kind_platform.restart_database()
    kind_platform.wait_database_ready(timeout=ROLLOUT_S)
    after = kind_platform.database_workloads()
    assert after
    assert all(pod.ready for pod in after)
    assert not before & {pod.uid for pod in after}, "the StatefulSet kept the old postgres pod"
    # The old PostgreSQL stopped cleanly on the kubelet's stop signal, as the upstream image does
    # (STOPSIGNAL SIGINT, a fast shutdown): not killed at the end of the grace period, which the new
    # one would have to recover from ("database system was interrupted").
    log = kind_session.kubectl("-n", "offgridflow", "logs", "postgres-0", "-c", "postgres", timeout=60)
    assert "database system was shut down at" in log, log[-2000:]
    assert "was interrupted" not in log, log[-2000:]
    # the wait includes the Service routing to the new pod (fresh-clone run 25 found the pod Ready
    # and the Service not yet routing to it: "postgres-service:5432 - no response"); what is left
    # is kube-proxy writing that route into the node's rules, a second or so
    started = time.monotonic()
    while (answer := kind_platform.pg_isready()).exit_code != 0:
        assert time.monotonic() - started < KUBE_PROXY_S, f"routed, then not reached: {answer.output}"
        time.sleep(0.5)
    print(f"pg_isready through postgres-service answered {time.monotonic() - started:.1f} s after the wait")
    # the API's pods turn unready while their database restarts: the next test starts from ready ones
    _until(lambda: _api_pods_ready(kind_platform), "the API's pods ready again after the database restart")


SERVICE_WAIT_S = 60


def _api_refuses(url: str) -> bool:
    """Whether the API's NodePort refuses a new client: no HTTP answer at all, the connection refused
    or closed before a response (kind's port mapping accepts, then drops it: "Server disconnected
    without sending a response", as triage reads it). A timeout is no refusal, an answer neither."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=3)
    try:
        connection.request("GET", "/health/live")
        connection.getresponse().read()
    except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
        return True
    except OSError:
        return False
    finally:
        connection.close()
    return False


def _api_pods_ready(platform) -> bool:
    pods = platform.api_workloads()
    return bool(pods) and all(pod.ready for pod in pods)


def _until(check, what: str) -> None:
    deadline = time.monotonic() + SERVICE_WAIT_S
    while not check():
        assert time.monotonic() < deadline, f"not within {SERVICE_WAIT_S} s: {what}"
        time.sleep(1)


def test_a_service_selector_matching_no_pod_empties_its_endpoints_and_fix_5_as_written_puts_it_back(
    kind_platform, kind_session
):
    # the claim below is that the pods stay ready: they must be ready before the change
    _until(lambda: _api_pods_ready(kind_platform), "the API's pods ready before the selector changes")
    selector = kind_platform.api_service_selector()
    base_url = kind_platform.target.base_url
    broken = {**selector, "offgridflow.io/chaos": "network"}
    try:
        kind_platform.set_api_service_selector(broken)
        assert kind_platform.api_service_selector() == broken  # replaced whole, nothing merged away
        _until(lambda: kind_platform.network().ready_endpoints == 0, "no ready endpoint")
        network = kind_platform.network()
        assert network.selected_pods == 0
        assert network.service_selector == tuple(sorted(broken.items()))
        assert all(p.ready for p in kind_platform.api_workloads())  # the pods themselves stay ready
        _until(lambda: _api_refuses(base_url), f"{base_url} refusing connections")
        # Fix 5 as the proposals write it, run as written with the real kubectl
        settings = kind_session.settings
        path = os.environ.get("PATH", "")
        if settings.kubectl_bin is not None:
            path = f"{settings.kubectl_bin.parent}{os.pathsep}{path}"
        subprocess.run(
            ["bash", "-euo", "pipefail", "-c", FIX_5_COMMANDS],
            env={**os.environ, "KUBECONFIG": str(settings.kubeconfig), "PATH": path},
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert kind_platform.api_service_selector() == selector
    finally:
        kind_platform.set_api_service_selector(selector)
    _until(lambda: kind_platform.network().ready_endpoints > 0, "ready endpoints again")
    _until(lambda: not _api_refuses(base_url), f"{base_url} answering again")
