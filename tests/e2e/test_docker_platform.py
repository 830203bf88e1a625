"""Each runbook operation on the local Docker stack, observed independently (Docker SDK and HTTP)."""

from __future__ import annotations

import secrets
import time

import docker
import httpx
import pytest
from docker.models.containers import Container

from offgridflow_runbook.environments.local import up
from offgridflow_runbook.platforms.docker import driver, revisions
from offgridflow_runbook.platforms.docker.driver import ONE_OFF_LABEL, DockerPlatform
from offgridflow_runbook.platforms.docker.engine_client import EngineClient, engine_endpoint
from offgridflow_runbook.platforms.docker.names import (
    API,
    API_INTERNAL_PORT,
    API_REPOSITORY,
    POSTGRES,
    POSTGRES_IMAGE,
    STACK_LABEL,
    STACK_VALUE,
)

from .conftest import run_checks, wait_until

pytestmark = pytest.mark.e2e


MiB = 2**20
STACK_FILTER = {"label": f"{STACK_LABEL}={STACK_VALUE}"}
STACK = ("offgridflow-api", "postgres", "postgres-exporter", "prometheus", "alertmanager", "alert-receiver")


def _answers(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def _delivered(alert: str, after: float) -> bool:
    deliveries = httpx.get("http://127.0.0.1:9095/deliveries", timeout=5).json()
    return any(
        delivery["received_at"] >= after
        and delivery["payload"]["status"] == "firing"
        and alert in {a["labels"]["alertname"] for a in delivery["payload"]["alerts"]}
        for delivery in deliveries
    )


def _firing_alerts() -> set[str]:
    alerts = httpx.get("http://127.0.0.1:9090/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {a["labels"]["alertname"] for a in alerts if a["state"] == "firing"}


def _inspect(engine: docker.DockerClient, name: str) -> dict:
    return engine.api.inspect_container(name)


def test_stack_runs_on_loopback_with_both_api_tags(local_stack: DockerPlatform, engine: docker.DockerClient):
    containers = {c.name: c for c in engine.containers.list(filters=STACK_FILTER)}
    assert set(STACK) | {"registry"} <= set(containers)
    assert all(c.attrs["HostConfig"]["NetworkMode"] == "host" for c in containers.values())
    repository = API_REPOSITORY.split("/", 1)[1]
    tags = httpx.get(f"http://127.0.0.1:5000/v2/{repository}/tags/list", timeout=5).json()
    assert {"v1.3.0", "v1.2.3"} <= set(tags["tags"])
    assert _answers("http://127.0.0.1:8080/health/ready") == 200
    assert _answers("http://127.0.0.1:9090/-/ready") == 200


def test_the_engine_client_reads_the_stack_as_the_docker_sdk_does(
    local_stack: DockerPlatform, engine: docker.DockerClient
) -> None:
    with EngineClient(engine_endpoint()) as reader:
        ours = {found.name: found for found in reader.containers(labels=[f"{STACK_LABEL}={STACK_VALUE}"])}
        theirs = {found.name: found for found in engine.containers.list(all=True, filters=STACK_FILTER)}
        assert set(ours) == set(theirs)
        for name, found in ours.items():
            assert (found.id, found.labels, found.attrs["HostConfig"]) == (
                theirs[name].id,
                theirs[name].labels,
                theirs[name].attrs["HostConfig"],
            )
        api = ours[API]
        code, output = reader.exec(api.id, ["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (code, sorted(output.splitlines())) == (3, ["err", "out"])
        # the API logs every request: lines of ours are among the SDK's last ones, read just after
        tail = reader.logs(api, tail=5).splitlines()
        assert tail
        assert set(tail) <= set(engine.containers.get(API).logs(tail=200).decode().splitlines())
        assert reader.container("no-such-container-of-the-stack") is None
        assert reader.pull_refusal(f"{API_REPOSITORY}:v1.3.0") is None
        assert reader.pull_refusal(f"{API_REPOSITORY}:v0.0.0-never-pushed") is not None


def test_a_check_run_on_the_stack_never_imports_the_docker_sdk(
    local_stack: DockerPlatform, token: str
) -> None:
    # the look reads the engine through its API with httpx; the SDK and requests cost 0.1 s a run
    # -s: pytest's capture would hide from stderr the imports made while the checks run
    result = run_checks(token, "-s", interpreter=("-X", "importtime"))
    assert result.returncode == 0, result.stdout[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "offgridflow_runbook.platforms.docker.engine_client" in imported  # the look read the engine
    assert {"docker", "requests"} & imported == set()


def test_the_api_image_carries_pg_isready_for_triage_2b(
    local_stack: DockerPlatform, engine: docker.DockerClient
):
    # On Kubernetes the runbook runs it with `kubectl exec` in an API pod, so the image must have it.
    result = engine.containers.get(API).exec_run(["pg_isready", "-h", "127.0.0.1", "-p", "5432"])
    assert (result.exit_code, result.output.decode().strip()) == (0, "127.0.0.1:5432 - accepting connections")


def test_second_up_changes_nothing(local_stack: DockerPlatform, engine: docker.DockerClient):
    before = {c.name: c.id for c in engine.containers.list(all=True, filters=STACK_FILTER)}
    started = time.monotonic()
    up("fast", say=lambda _line: None)
    assert time.monotonic() - started < 30
    after = {c.name: c.id for c in engine.containers.list(all=True, filters=STACK_FILTER)}
    assert after == before


def test_a_checkout_with_another_database_password_still_gets_a_ready_api(local_stack: DockerPlatform):
    # A second clone on the same engine finds the first clone's data volume with its own new secret.
    password_file = revisions.state_dir() / revisions.DB_PASSWORD_FILE
    password_file.write_text("another-checkout-" + secrets.token_urlsafe(8) + "\n", encoding="utf-8")

    up("fast", say=lambda _line: None)

    assert _answers("http://127.0.0.1:8080/health/ready") == 200
    wait_until(
        "postgres_exporter logs in with the new password",
        lambda: "pg_up 1" in httpx.get("http://127.0.0.1:9187/metrics", timeout=5).text,
        timeout=30,
    )


def test_patch_memory_then_undo(healthy_api: DockerPlatform, engine: docker.DockerClient):
    healthy_api.patch_memory(limit="768Mi", request="384Mi")
    assert healthy_api.wait_rollout(timeout=60).complete
    host = _inspect(engine, API)["HostConfig"]
    assert (host["Memory"], host["MemoryReservation"]) == (768 * MiB, 384 * MiB)
    assert [w.memory_limit_bytes for w in healthy_api.api_workloads()] == [768 * MiB]

    healthy_api.rollout_undo()
    assert healthy_api.wait_rollout(timeout=60).complete
    assert _inspect(engine, API)["HostConfig"]["Memory"] == 512 * MiB
    assert healthy_api.rollout_history()[-1].memory_limit == "512Mi"


def test_missing_tag_stalls_the_rollout_and_the_old_container_keeps_serving(
    healthy_api: DockerPlatform, engine: docker.DockerClient
):
    serving = _inspect(engine, API)["Id"]
    healthy_api.set_image(f"{API_REPOSITORY}:v0.0.0-missing")

    pending = [w for w in healthy_api.api_workloads() if w.waiting_reason]
    assert [w.waiting_reason for w in pending] == ["ErrImagePull"]
    assert "manifest unknown" in (pending[0].waiting_message or "")
    assert not healthy_api.rollout_status().complete
    assert any(e.reason == "Failed" and "manifest unknown" in e.message for e in healthy_api.events())
    assert _inspect(engine, API)["Id"] == serving
    assert _answers("http://127.0.0.1:8080/health/live") == 200

    healthy_api.rollout_undo()
    assert healthy_api.wait_rollout(timeout=60).complete
    assert not [w for w in healthy_api.api_workloads() if w.waiting_reason]
    assert _inspect(engine, API)["Config"]["Image"] == f"{API_REPOSITORY}:v1.3.0"


def test_set_known_good_tag_then_undo(healthy_api: DockerPlatform, engine: docker.DockerClient):
    healthy_api.set_image(f"{API_REPOSITORY}:v1.2.3")
    assert healthy_api.wait_rollout(timeout=60).complete
    config = _inspect(engine, API)["Config"]
    assert config["Image"] == f"{API_REPOSITORY}:v1.2.3"
    assert "OFFGRIDFLOW_VERSION=1.2.3" in config["Env"]

    healthy_api.rollout_undo()
    assert healthy_api.wait_rollout(timeout=60).complete
    assert _inspect(engine, API)["Config"]["Image"] == f"{API_REPOSITORY}:v1.3.0"


def test_memory_over_the_limit_is_oom_killed_and_restarts(
    healthy_api: DockerPlatform, engine: docker.DockerClient, token: str
):
    restarts_before = _inspect(engine, API)["RestartCount"]
    for attempt in range(2):
        with pytest.raises(httpx.TransportError):
            # The process dies while answering: the connection drops instead of a response. Sent to the
            # API container itself (:8082), not through its Service (the routing proxy on :8080), which
            # answers 502/503 of its own while the restarted API is not yet among its endpoints: such
            # an answer would pass for the kill while no assault had reached the API.
            httpx.post(
                f"http://127.0.0.1:{API_INTERNAL_PORT}/chaos/assaults/memory",
                params={"mib": 1024, "hold_seconds": 30},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ).raise_for_status()
        wait_until(
            f"restart {attempt + 1} after the OOM kill",
            lambda attempt=attempt: _inspect(engine, API)["RestartCount"] > restarts_before + attempt,
            60,
        )
        wait_until(
            "the API answers again",
            lambda: _answers(f"http://127.0.0.1:{API_INTERNAL_PORT}/health/live") == 200,
            60,
        )

    state = _inspect(engine, API)["State"]
    assert state["OOMKilled"] is True
    assert _inspect(engine, API)["RestartCount"] >= restarts_before + 2
    (workload,) = healthy_api.api_workloads()
    assert workload.last_termination is not None
    assert (workload.last_termination.reason, workload.last_termination.exit_code) == ("OOMKilled", 137)
    assert any(e.reason == "OOMKilled" and e.involved == API for e in healthy_api.events())


def _one_offs(engine: docker.DockerClient) -> list[str]:
    return [c.name for c in engine.containers.list(all=True, filters={"label": ONE_OFF_LABEL})]


def test_kill_and_restart_the_database(
    healthy_api: DockerPlatform, engine: docker.DockerClient, monkeypatch: pytest.MonkeyPatch
):
    # what a process killed while it waited on a one-off leaves behind (SIGKILL runs no finally):
    # an exited one, and one killed between create and start, never started
    left_behind = engine.containers.create(POSTGRES_IMAGE, ["true"], labels={ONE_OFF_LABEL: "pg_isready"})
    left_behind.start()
    left_behind.wait(timeout=30)
    engine.containers.create(POSTGRES_IMAGE, ["true"], labels={ONE_OFF_LABEL: "pg_isready"})
    seen_running = engine.containers.get(POSTGRES)  # as a listing just before the kill saw it
    healthy_api.kill_database()
    try:
        _judge_the_killed_database(healthy_api, engine, monkeypatch, seen_running)
    except BaseException:
        # the fault must not outlive a failed check: every later test would find the database down
        healthy_api.restart_database()
        healthy_api.wait_database_ready(timeout=60)
        healthy_api.rollout_restart()
        raise

    healthy_api.restart_database()
    healthy_api.wait_database_ready(timeout=60)
    assert healthy_api.pg_isready().exit_code == 0
    assert _inspect(engine, POSTGRES)["State"]["Running"] is True
    healthy_api.rollout_restart()
    wait_until("the API is ready", lambda: _answers("http://127.0.0.1:8080/health/ready") == 200, 60)


def _judge_the_killed_database(
    healthy_api: DockerPlatform,
    engine: docker.DockerClient,
    monkeypatch: pytest.MonkeyPatch,
    seen_running: Container,
) -> None:
    """What the platform shows of a database ``docker kill`` ended, and that pg_isready never
    leaves a one-off container behind."""
    wait_until("postgres is down", lambda: _inspect(engine, POSTGRES)["State"]["Status"] == "exited", 30)
    assert _inspect(engine, POSTGRES)["State"]["ExitCode"] == 137
    result = healthy_api.pg_isready()
    assert result.exit_code != 0, result.output
    # a database that stops between the driver's listing and its exec: the engine refuses the exec
    # (409), and pg_isready answers from a one-off container instead of failing
    assert seen_running.status == "running"
    with monkeypatch.context() as stale:
        stale.setattr(healthy_api, "_container", lambda name: seen_running if name == POSTGRES else None)
        stale.setattr(driver, "_ONE_OFF_STALE_S", 0.0)  # the one left behind counts as old at once
        raced = healthy_api.pg_isready()
    assert raced.exit_code != 0, raced.output
    # its own one-off removed, and the one left behind swept
    assert _one_offs(engine) == [], "a one-off pg_isready container was left behind"
    wait_until("the API reports not ready", lambda: _answers("http://127.0.0.1:8080/health/ready") != 200, 30)


def test_bad_configuration_crash_loops_with_the_error_in_previous_logs(
    healthy_api: DockerPlatform, engine: docker.DockerClient
):
    changed_at = time.time()
    healthy_api.update_config({"OFFGRIDFLOW_DB_POOL_MAX": "lots"})
    assert "OFFGRIDFLOW_DB_POOL_MAX=lots" in _inspect(engine, API)["Config"]["Env"]
    wait_until("the API has restarted twice", lambda: _inspect(engine, API)["RestartCount"] >= 2, 60)
    assert _answers("http://127.0.0.1:8080/health/live") is None
    previous = healthy_api.api_logs(previous=True)
    assert "invalid configuration" in previous[API]
    assert not healthy_api.rollout_status().complete
    assert healthy_api.config()["OFFGRIDFLOW_DB_POOL_MAX"] == "lots"
    api_down_delivered = lambda: _delivered("OffGridFlowAPIDown", changed_at)  # noqa: E731
    wait_until("OffGridFlowAPIDown reaches the receiver", api_down_delivered, 60)
    wait_until("PodCrashLooping fires", lambda: "PodCrashLooping" in _firing_alerts(), 60)

    healthy_api.rollout_undo()
    assert healthy_api.wait_rollout(timeout=60).complete
    assert "OFFGRIDFLOW_DB_POOL_MAX=10" in _inspect(engine, API)["Config"]["Env"]


def test_resource_usage_and_network(healthy_api: DockerPlatform, engine: docker.DockerClient):
    (usage,) = healthy_api.resource_usage()
    assert usage.memory_limit_bytes == 512 * MiB
    assert 0 < usage.memory_bytes < usage.memory_limit_bytes
    # The driver reads the cgroup itself; the engine's own stats must agree on the working set.
    memory = engine.containers.get(API).stats(stream=False)["memory_stats"]
    engine_working_set = memory["usage"] - memory["stats"].get("total_inactive_file", 0)
    assert usage.memory_bytes == pytest.approx(engine_working_set, rel=0.2)
    assert usage.cpu_millicores >= 0
    network = healthy_api.network()
    assert network.ready_endpoints == 1
    assert set(network.published) == {"127.0.0.1:8080", "127.0.0.1:8081"}
