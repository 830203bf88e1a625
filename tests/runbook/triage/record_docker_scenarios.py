"""Records the Docker scenarios of the triage corpus from the real local stack (``scenarios/docker/``).

Each scenario writes the label of its fault first (what it breaks, how, and the verdict an expert
gives: ``helpers.triage_corpus.label``), waits until triage calls the stack quiet, puts the stack into
that failure state for real (the game day's faults, ``docker pause``/``stop`` of a container, SQL a DBA
runs, a configuration rolled out), takes one look exactly as ``offgridflow-runbook diagnose --record``
does, and puts the stack back (``helpers.triage_recording``). The look is taken once and kept whatever
triage says of it: a verdict that disagrees with the label is kept as a known miss.
It changes the shared stack, so it holds the stack lock for the whole run; the stack is brought up
(``make up``) only when its API is not ready, so the stack as it is is what every fault puts back.
From a worktree, ``OFFGRIDFLOW_HOME`` names the checkout whose ``.state/`` the stack runs from:

    OFFGRIDFLOW_HOME=/path/to/main PYTHONPATH=src:tests \\
        .venv/bin/python tests/runbook/triage/record_docker_scenarios.py [NAME ...]
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import docker
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, where the helpers package lives

from helpers.triage_corpus import cannot_see, hung, label
from helpers.triage_recording import DATABASE_CHANGES, Recorder, database_change, wait, write_refused
from offgridflow_runbook.environments.local import stack_lock
from offgridflow_runbook.platforms import Platform, platform_for
from offgridflow_runbook.project import project_root
from offgridflow_runbook.runbook.triage import NOT_COVERED

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
    "alertmanager-stopped": cannot_see(
        "the alertmanager container stopped (docker stop): the API is fine, no page can be delivered",
        "Alertmanager",
    ),
    "alert-receiver-stopped": cannot_see(
        "the alert-receiver container stopped (docker stop): Alertmanager runs, its webhook deliveries fail",
        "alert receiver",
    ),
    "db-password-changed": label(
        "ALTER ROLE offgridflow PASSWORD to a value the API's secret does not hold, the API's sessions "
        "ended: every new connection of the API fails password authentication; PostgreSQL runs and "
        "pg_isready accepts",
        "database",
        "diagnosed",
        ("Fix 1",),
        remedy="Fix 1's 'check database secrets' finds it: set the password back to the secret's; Fix 1's "
        "restarts alone do not help",
    ),
    "db-connection-limit-zero": label(
        "ALTER DATABASE offgridflow CONNECTION LIMIT 0, the API's sessions ended: PostgreSQL runs and "
        "pg_isready accepts, every new connection to the API's database is refused",
        "database",
        "diagnosed",
        ("Fix 1",),
        remedy="ALTER DATABASE offgridflow CONNECTION LIMIT -1: a restart keeps a database's setting",
    ),
    "db-read-only": label(
        "ALTER DATABASE offgridflow SET default_transaction_read_only = on, the API's sessions ended: "
        "reads and SELECT 1 work, every write fails (what a full disk or a failover to a replica does "
        "to the API)",
        "database",
        "diagnosed",
        (NOT_COVERED,),
        should_name="writes fail: the database is read-only, while reads and /health/ready still answer",
    ),
    "db-paused": label(
        "the postgres container frozen (docker pause): it is running, nothing it accepts is answered",
        "database",
        "diagnosed",
        ("Fix 1",),
    ),
    "db-host-wrong": label(
        "OFFGRIDFLOW_DATABASE_HOST=postgres-primary (a host that does not exist) rolled out: the database "
        "runs and is ready, the API cannot reach it",
        "config",
        "diagnosed",
        ("Fix 3",),
        mentions=("postgres-primary",),
        remedy="roll the change back (Fix 3); Fix 1 restarts a database that runs: it would not help",
    ),
    "db-killed-and-alertmanager-stopped": label(
        "two faults: the alertmanager container stopped, then the postgres container killed (SIGKILL)",
        "two-faults",
        "diagnosed",
        ("Fix 1",),
        unknown=("Alertmanager",),
    ),
    "alertmanager-paused": cannot_see(
        "the alertmanager container frozen (docker pause): its port accepts connections, nothing "
        "answers; the API is fine, no page can be delivered",
        "Alertmanager",
    ),
    "alert-receiver-paused": cannot_see(
        "the alert-receiver container frozen (docker pause): Alertmanager runs, its webhook deliveries hang",
        "alert receiver",
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


RECORDER = Recorder(
    "local",
    OUT,
    "real-docker",
    "tests/runbook/triage/record_docker_scenarios.py",
    LABELS,
    settle=lambda: wait("the API is ready", ready, 120),
)
recorded = RECORDER.fault


def healthy(platform: Platform, engine: docker.DockerClient) -> None:
    RECORDER.keep_look("healthy", "the local stack, healthy")


def db_killed(platform: Platform, engine: docker.DockerClient) -> None:
    def restore() -> None:
        platform.restart_database()
        platform.wait_database_ready(120)

    recorded(
        "db-killed",
        "the postgres container was killed (SIGKILL) and stays down",
        apply=platform.kill_database,
        restore=restore,
        shows=("/health/ready names the database", lambda: not ready()),
    )


def image_pull(platform: Platform, engine: docker.DockerClient) -> None:
    recorded(
        "image-pull",
        "set image to a tag the registry does not have: the rollout stalls, the old container serves",
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
            [sys.executable, "-m", "offgridflow_runbook.environments.local", "up"],
            cwd=project_root(),
            check=True,
        )
        wait("Prometheus is ready again", prometheus_ready, 60)

    recorded(
        "monitoring-down",
        "Prometheus is stopped: the API is fine, but no alert could page",
        apply=lambda: prometheus.stop(timeout=10),
        restore=recreate,
    )


# The pager's containers and where each answers: stopped or frozen, no page is delivered.
PAGER = {"alertmanager": "http://127.0.0.1:9093/-/ready", "alert-receiver": "http://127.0.0.1:9095/"}


def _pager_container(
    engine: docker.DockerClient, name: str
) -> tuple[Callable[[], object], Callable[[], object]]:
    """Stop and start again one of the pager's containers, the start waiting until it answers."""
    container = engine.containers.get(name)

    def answers() -> bool:
        try:
            httpx.get(PAGER[name], timeout=2)
        except httpx.HTTPError:
            return False
        return True

    def start() -> None:
        container.start()
        wait(f"{name} answers again", answers, 60)

    return (lambda: container.stop(timeout=10)), start


def psql(engine: docker.DockerClient, sql: str) -> str:
    """SQL as the database's superuser over the postgres container's own socket (local trust), as a
    DBA runs it with ``docker exec``."""
    result = engine.containers.get("postgres").exec_run(
        ["psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-Atc", sql]
    )
    output = result.output.decode("utf-8", "replace").strip()
    if result.exit_code != 0:
        raise SystemExit(f"psql {sql!r} failed: {output}")
    return output


# The API's own sessions (it connects as the application role over 127.0.0.1): ended so that its pool
# reconnects under the changed setting, as after a network blip or a database failover.
END_API_SESSIONS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'offgridflow'"
)


def _database_named_by_ready() -> bool:
    try:
        answer = httpx.get("http://127.0.0.1:8080/health/ready", timeout=3)
    except httpx.HTTPError:
        return False
    return answer.status_code == 503 and "database" in answer.text


def _database_fault(
    name: str, shows: tuple[str, Callable[[], bool]]
) -> Callable[[Platform, docker.DockerClient], None]:
    """A change a DBA makes (``helpers.triage_recording.DATABASE_CHANGES``) as a Docker scenario."""

    def scenario(platform: Platform, engine: docker.DockerClient) -> None:
        password = (project_root() / ".state" / "database-password").read_text().strip()
        apply, restore = database_change(name, password, lambda sql: psql(engine, sql), END_API_SESSIONS)
        recorded(name, DATABASE_CHANGES[name].description, apply=apply, restore=restore, shows=shows)

    return scenario


DATABASE_NAMED = ("/health/ready names the database", _database_named_by_ready)
WRITE_REFUSED = ("a write is refused", lambda: write_refused(RECORDER.target()))
DATABASE_FAULTS = {
    name: _database_fault(name, WRITE_REFUSED if change.writes_only else DATABASE_NAMED)
    for name, change in DATABASE_CHANGES.items()
}


def db_host_wrong(platform: Platform, engine: docker.DockerClient) -> None:
    recorded(
        "db-host-wrong",
        "OFFGRIDFLOW_DATABASE_HOST=postgres-primary rolled out (a host that does not exist): the database "
        "runs and is ready, the API cannot resolve where it is",
        apply=lambda: platform.update_config({"OFFGRIDFLOW_DATABASE_HOST": "postgres-primary"}),
        restore=lambda: (platform.rollout_undo(), platform.wait_rollout(120)),
        shows=("/health/ready names the database", _database_named_by_ready),
    )


def db_killed_and_alertmanager_stopped(platform: Platform, engine: docker.DockerClient) -> None:
    stop, start = _pager_container(engine, "alertmanager")

    def restore() -> None:
        start()
        platform.restart_database()
        platform.wait_database_ready(120)

    recorded(
        "db-killed-and-alertmanager-stopped",
        "two faults: the alertmanager container stopped, then the postgres container killed",
        apply=lambda: (stop(), platform.kill_database()),
        restore=restore,
        shows=("/health/ready names the database", lambda: not ready()),
    )


def _container_down(
    name: str, container: str, how: str, description: str, shows: tuple[str, Callable[[], bool]] | None
) -> Callable[[Platform, docker.DockerClient], None]:
    """The scenario ``name``: ``container`` frozen (``paused``: docker pause) or ``stopped``."""

    def scenario(platform: Platform, engine: docker.DockerClient) -> None:
        if how == "paused":
            frozen = engine.containers.get(container)
            apply, restore = frozen.pause, frozen.unpause
        else:
            apply, restore = _pager_container(engine, container)
        recorded(name, DATABASE_CHANGES[name].description, apply=apply, restore=restore, shows=shows)

    return scenario


CONTAINER_DOWN = {
    name: _container_down(name, container, how, description, shows)
    for name, container, how, description, shows in (
        (
            "api-hung",
            "offgridflow-api",
            "paused",
            "the API process is frozen (docker pause): its ports accept connections, requests time out",
            None,
        ),
        (
            "db-paused",
            "postgres",
            "paused",
            "the postgres container frozen (docker pause): it is running, its port accepts nothing it "
            "answers",
            DATABASE_NAMED,
        ),
        (
            "alertmanager-stopped",
            "alertmanager",
            "stopped",
            "the alertmanager container stopped: the API is fine, no page can be delivered",
            None,
        ),
        (
            "alert-receiver-stopped",
            "alert-receiver",
            "stopped",
            "the alert-receiver container stopped: Alertmanager runs, its pages go nowhere",
            None,
        ),
        (
            "alertmanager-paused",
            "alertmanager",
            "paused",
            "the alertmanager container frozen (docker pause): no page can be delivered",
            None,
        ),
        (
            "alert-receiver-paused",
            "alert-receiver",
            "paused",
            "the alert-receiver container frozen (docker pause): its deliveries hang",
            None,
        ),
    )
}


SCENARIOS = (
    {
        f.__name__.replace("_", "-"): f
        for f in (
            healthy,
            db_killed,
            image_pull,
            config_crash,
            oom,
            oom_and_db_down,
            monitoring_down,
            db_host_wrong,
            db_killed_and_alertmanager_stopped,
        )
    }
    | CONTAINER_DOWN
    | DATABASE_FAULTS
)


def main(names: list[str]) -> None:
    if unknown := [name for name in names if name not in SCENARIOS]:
        raise SystemExit(f"unknown scenario {unknown[0]!r}; known: {', '.join(SCENARIOS)}")
    chosen = names or list(SCENARIOS)
    root = project_root()
    with stack_lock():
        os.environ["OFFGRIDFLOW_STACK_LOCK_HELD"] = "1"
        if not ready():  # the stack as it is is what is put back: it is brought up only when it is not
            subprocess.run(
                [sys.executable, "-m", "offgridflow_runbook.environments.local", "up"], cwd=root, check=True
            )
        os.environ["OFFGRIDFLOW_TOKEN"] = (root / ".state" / "local-token").read_text().strip()
        wait("the API is ready", ready, 120)
        platform = platform_for(RECORDER.target())
        engine = docker.from_env()
        try:
            for name in chosen:
                if (OUT / f"{name}.json").exists():
                    print(f"{name}: already recorded, kept as it is (a look is taken once)", flush=True)
                    continue
                SCENARIOS[name](platform, engine)
        finally:
            platform.close()
            engine.close()


if __name__ == "__main__":
    main(sys.argv[1:])
