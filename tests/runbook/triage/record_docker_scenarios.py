"""Records the Docker scenarios of the triage corpus from the real local stack (``scenarios/docker/``).

Each scenario writes the label of its fault first (what it breaks, how, and the verdict an expert
gives: ``helpers.triage_corpus.label``), puts the stack into that failure state for real (the game
day's faults, ``docker pause``, a stopped Prometheus), takes one look exactly as
``offgridflow-runbook diagnose --record`` does, and puts the stack back. The look is taken once and
kept whatever triage says of it: a verdict that disagrees with the label is kept as a known miss.
It changes the shared stack, so it holds the stack lock for the whole run and brings the stack up
from this checkout first:

    flock -w 1800 /tmp/offgridflow-stack.lock env OFFGRIDFLOW_STACK_LOCK_HELD=1 \\
        .venv/bin/python tests/runbook/triage/record_docker_scenarios.py [NAME ...]
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, where the helpers package lives

from helpers.triage_corpus import cannot_see, hung, label, scenario_block
from offgridflow_runbook.environments.local import stack_lock
from offgridflow_runbook.platforms import Platform, platform_for
from offgridflow_runbook.probes import record
from offgridflow_runbook.runbook.triage import decide, look_for_triage
from offgridflow_runbook.targets import load_target

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).resolve().parent / "scenarios" / "docker"
GOOD_IMAGE = "127.0.0.1:5000/offgridflow-api:v1.3.0"


# Each fault's label, written from the fault (what it breaks and how), before any look is taken.
LABELS = {
    "healthy": label("nothing broken: the local stack as make up leaves it", "healthy", "healthy"),
    "api-hung": hung(
        "docker pause of offgridflow-api: the process is frozen, its published ports accept connections "
        "and nothing answers",
        "timed out",
    ),
    "db-killed": label(
        "the postgres container killed with SIGKILL and left down", "database", "diagnosed", ("Fix 1",)
    ),
    "image-pull": label(
        "the API's image set to a tag the registry does not have (v9.9.9-does-not-exist)",
        "image",
        "diagnosed",
        ("Fix 4",),
    ),
    "config-crash": label(
        "OFFGRIDFLOW_DB_POOL_MAX=lots rolled out: the API exits 78 at start, Docker restarts it",
        "config",
        "diagnosed",
        ("Fix 3",),
    ),
    "oom": label(
        "a 700 MiB memory assault against the 512Mi limit: the kernel OOM-kills the API",
        "oom",
        "diagnosed",
        ("Fix 2",),
    ),
    "oom-and-db-down": label(
        "two faults: the API OOM-killed by a memory assault, then the postgres container killed",
        "two-faults",
        "diagnosed",
        ("Fix 1", "Fix 2"),
    ),
    "monitoring-down": cannot_see(
        "the prometheus container stopped: the API is fine, nothing can evaluate an alert", "Prometheus"
    ),
    # made by hand, not by this script: the healthy stack after a game day, looked at with
    # `diagnose --target local --since 5m --record` (every OOM kill and pull failure older than 5 min)
    "only-stale-events": label(
        "nothing broken now; a game day's OOM kills and pull failures, all older than the 5-minute "
        "window the look is judged with",
        "healthy",
        "healthy",
    ),
}


def wait(what: str, condition: Callable[[], bool], timeout: float, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(interval)


def ready() -> bool:
    try:
        answer = httpx.get("http://127.0.0.1:8080/health/ready", timeout=2)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and answer.json().get("status") == "healthy"


def live() -> bool:
    try:
        return httpx.get("http://127.0.0.1:8080/health/live", timeout=2).is_success
    except httpx.HTTPError:
        return False


def save(name: str, description: str, fault_label: dict[str, Any]) -> None:
    """One look, judged once and kept with the label written before it."""
    target = load_target("local", ROOT / "targets.yaml")
    platform = platform_for(target)
    try:
        observations = look_for_triage(target, platform)
    finally:
        platform.close()
    diagnosis = decide(observations)
    origin = {"class": "real-docker", "by": f"tests/runbook/triage/record_docker_scenarios.py::{name}"}
    meta = scenario_block(name, description, origin, fault_label, diagnosis)
    path = record.save(observations, OUT / f"{name}.json", scenario=meta)
    print(f"{path}: {diagnosis.outcome} {diagnosis.sections} (label {fault_label['sections']})", flush=True)


def recorded(
    name: str,
    description: str,
    fault_label: dict[str, Any],
    *,
    apply: Callable[[], object],
    restore: Callable[[], object],
    shows: tuple[str, Callable[[], bool]] | None = None,
) -> None:
    """Apply a fault, wait until it shows, record one look, and always restore the stack."""
    apply()
    try:
        if shows is not None:
            wait(shows[0], shows[1], 60)
        save(name, description, fault_label)
    finally:
        restore()
    wait("the API is ready again", ready, 120)


def healthy(platform: Platform, engine: docker.DockerClient) -> None:
    save("healthy", "the local stack, healthy", LABELS["healthy"])


def api_hung(platform: Platform, engine: docker.DockerClient) -> None:
    api = engine.containers.get("offgridflow-api")
    recorded(
        "api-hung",
        "the API process is frozen (docker pause): its ports accept connections, requests time out",
        LABELS["api-hung"],
        apply=api.pause,
        restore=api.unpause,
    )


def db_killed(platform: Platform, engine: docker.DockerClient) -> None:
    def restore() -> None:
        platform.restart_database()
        platform.wait_database_ready(120)

    recorded(
        "db-killed",
        "the postgres container was killed (SIGKILL) and stays down",
        LABELS["db-killed"],
        apply=platform.kill_database,
        restore=restore,
        shows=("/health/ready names the database", lambda: not ready()),
    )


def image_pull(platform: Platform, engine: docker.DockerClient) -> None:
    recorded(
        "image-pull",
        "set image to a tag the registry does not have: the rollout stalls, the old container serves",
        LABELS["image-pull"],
        apply=lambda: platform.set_image("127.0.0.1:5000/offgridflow-api:v9.9.9-does-not-exist"),
        restore=lambda: (platform.set_image(GOOD_IMAGE), platform.wait_rollout(120)),
    )


def config_crash(platform: Platform, engine: docker.DockerClient) -> None:
    def crash_looping() -> bool:
        restarted = any(w.restart_count > 0 for w in platform.api_workloads())
        return restarted and bool(platform.api_logs(previous=True))

    recorded(
        "config-crash",
        "OFFGRIDFLOW_DB_POOL_MAX=lots rolled out: the API exits 78 at start and crash-loops",
        LABELS["config-crash"],
        apply=lambda: platform.update_config({"OFFGRIDFLOW_DB_POOL_MAX": "lots"}),
        restore=lambda: (platform.rollout_undo(), platform.wait_rollout(120)),
        shows=("the API crash-loops with its previous logs", crash_looping),
    )


def _assault() -> None:
    with contextlib.suppress(httpx.HTTPError):  # the process dies with the request: that is the fault
        httpx.post(
            "http://127.0.0.1:8080/chaos/assaults/memory",
            params={"mib": 700, "hold_seconds": 30},
            headers={"Authorization": f"Bearer {os.environ['OFFGRIDFLOW_TOKEN']}"},
            timeout=60,
        )


def _baseline_memory(platform: Platform) -> None:
    """The 512Mi limit the assault is sized for (a game day's Fix 2 leaves 2Gi behind)."""
    latest = platform.rollout_history()[-1]
    if (latest.memory_limit, latest.memory_request) != ("512Mi", "256Mi"):
        platform.patch_memory(limit="512Mi", request="256Mi")
        platform.wait_rollout(120)
        wait("the API is ready at the baseline", ready, 120)


def _oom_killed(platform: Platform, *, back: bool = True) -> Callable[[], bool]:
    def check() -> bool:
        workloads = platform.api_workloads()
        oom_killed = any(w.last_termination is not None and w.last_termination.oom_killed for w in workloads)
        return oom_killed and (live() or not back)

    return check


def oom(platform: Platform, engine: docker.DockerClient) -> None:
    recorded(
        "oom",
        "a 700 MiB memory assault over the 512Mi limit: the kernel OOM-kills the API, Docker restarts it",
        LABELS["oom"],
        apply=lambda: (_baseline_memory(platform), _assault()),
        # a fresh container: the restart count back to 0
        restore=lambda: (platform.rollout_restart(), platform.wait_rollout(120)),
        shows=("the API was OOM-killed and answers again", _oom_killed(platform)),
    )


def oom_and_db_down(platform: Platform, engine: docker.DockerClient) -> None:
    def restore() -> None:
        platform.restart_database()
        platform.wait_database_ready(120)
        platform.rollout_restart()
        platform.wait_rollout(120)

    recorded(
        "oom-and-db-down",
        "two causes at once: the API OOM-killed by a memory assault, then the postgres container killed",
        LABELS["oom-and-db-down"],
        apply=lambda: (_baseline_memory(platform), _assault(), platform.kill_database()),
        restore=restore,
        # without its database the restarted API may not answer yet: the kill itself is the state
        shows=("the API was OOM-killed", _oom_killed(platform, back=False)),
    )


def monitoring_down(platform: Platform, engine: docker.DockerClient) -> None:
    prometheus = engine.containers.get("prometheus")

    def prometheus_ready() -> bool:
        try:
            return httpx.get("http://127.0.0.1:9090/-/ready", timeout=2).is_success
        except httpx.HTTPError:
            return False

    def recreate() -> None:
        # `docker start` of the stopped container fails (its tmpfs /prometheus comes back without
        # mode 1777: "permission denied"), so the stack recreates it as `make up` does.
        prometheus.remove(force=True)
        subprocess.run(
            [sys.executable, "-m", "offgridflow_runbook.environments.local", "up"], cwd=ROOT, check=True
        )
        wait("Prometheus is ready again", prometheus_ready, 60)

    recorded(
        "monitoring-down",
        "Prometheus is stopped: the API is fine, but no alert could page",
        LABELS["monitoring-down"],
        apply=lambda: prometheus.stop(timeout=10),
        restore=recreate,
    )


SCENARIOS = {
    f.__name__.replace("_", "-"): f
    for f in (healthy, api_hung, db_killed, image_pull, config_crash, oom, oom_and_db_down, monitoring_down)
}


def main(names: list[str]) -> None:
    chosen = names or list(SCENARIOS)
    with stack_lock():
        os.environ["OFFGRIDFLOW_STACK_LOCK_HELD"] = "1"
        subprocess.run(
            [sys.executable, "-m", "offgridflow_runbook.environments.local", "up"], cwd=ROOT, check=True
        )
        os.environ["OFFGRIDFLOW_TOKEN"] = (ROOT / ".state" / "local-token").read_text().strip()
        wait("the API is ready", ready, 120)
        target = load_target("local", ROOT / "targets.yaml")
        platform = platform_for(target)
        engine = docker.from_env()
        try:
            for name in chosen:
                SCENARIOS[name](platform, engine)
        finally:
            platform.close()
            engine.close()


if __name__ == "__main__":
    main(sys.argv[1:])
