"""``up``, ``down``, ``clean`` and ``status`` of the local stack."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import docker
from docker.errors import DockerException, NotFound

from offgridflow_runbook.environments.local import images as builds
from offgridflow_runbook.environments.local import ports
from offgridflow_runbook.environments.local import prometheus as prometheus_config
from offgridflow_runbook.environments.local.preflight import StackError, check_machine, ensure_engine
from offgridflow_runbook.ledger import Ledger
from offgridflow_runbook.platforms.docker import revisions, specs
from offgridflow_runbook.platforms.docker.engine_client import EngineClient, EngineError, engine_endpoint
from offgridflow_runbook.platforms.docker.health import (
    HEALTH_URLS,
    PARTS,
    answers,
    part_health,
    postgres_ready,
)
from offgridflow_runbook.platforms.docker.names import (
    ALERTMANAGER,
    API,
    API_SERVICE,
    API_SERVICE_FILE,
    ENGINE_EVENTS_FILE,
    EVENT_RECORDER,
    EXPORTER,
    POSTGRES,
    PROMETHEUS,
    RECEIVER,
    REGISTRY,
    STACK_LABEL,
    STACK_VALUE,
    SYNTHETIC_MONITOR,
    URLS,
    VOLUMES,
    state_dir,
)

Say = Callable[[str], None]
HEALTH_DEADLINE_SECONDS = 120.0

# Removal order: dependants first.
_ALL = (PROMETHEUS, ALERTMANAGER, RECEIVER, EXPORTER, API_SERVICE, API, POSTGRES, REGISTRY, EVENT_RECORDER)


@dataclass(frozen=True)
class ContainerStatus:
    name: str
    app: str
    state: str
    health: str | None
    restart_count: int
    image: str


_PSQL = (
    "psql",
    "-q",
    "-X",
    "-v",
    "ON_ERROR_STOP=1",
    "-h",
    "/var/run/postgresql",
    "-U",
    "postgres",
    "-d",
    "postgres",
)
# PostgreSQL's answer when every connection slot is taken (superusers' reserved slots included).
_TOO_MANY_CLIENTS = "too many clients"
PASSWORD_DEADLINE_SECONDS = 30.0


def _sync_database_password(client: docker.DockerClient, say: Say) -> None:
    """Set the application role's password to this checkout's secret.

    The data volume outlives a checkout: another clone on the same engine (or a deleted ``.state/``)
    created the role with a different password, and the API would never turn ready. At
    ``max_connections`` the change waits for a free slot, then says what to do.
    """
    literal = revisions.database_password().replace("'", "''")
    deadline = time.monotonic() + PASSWORD_DEADLINE_SECONDS
    while True:
        container = specs.find(client, POSTGRES)
        if container is None:
            raise StackError(f"{POSTGRES} disappeared while the stack was coming up")
        result = container.exec_run([*_PSQL, "-c", f"ALTER ROLE offgridflow PASSWORD '{literal}'"])
        if result.exit_code == 0:
            return
        output = result.output.decode("utf-8", "replace").strip()
        if _TOO_MANY_CLIENTS not in output:
            raise StackError(f"could not set the database password in {POSTGRES}: {output}")
        if time.monotonic() > deadline:
            raise StackError(
                f"{POSTGRES} has no free connection (max_connections reached) for "
                f"{PASSWORD_DEADLINE_SECONDS:.0f}s: stop what holds its connections (`docker exec {POSTGRES} "
                "ps -o pid,args -u postgres` lists one backend per connection) or restart it (Fix 1: "
                f"docker restart {POSTGRES}), then run make up again"
            )
        say(f"  {POSTGRES} is at max_connections: waiting for a free connection ...")
        time.sleep(2)


def _last_log_lines(client: docker.DockerClient, name: str, lines: int = 5) -> str:
    container = specs.find(client, name)
    if container is None:
        return ""
    tail = container.logs(tail=lines).decode("utf-8", "replace").strip()
    return f"\nits last log lines:\n{tail}" if tail else ""


def _restart_count(client: docker.DockerClient, name: str) -> int:
    container = specs.find(client, name)
    return int(container.attrs.get("RestartCount", 0)) if container is not None else 0


def _not_coming_up(client: docker.DockerClient, name: str, restarts_before: int) -> str | None:
    """Why waiting longer for ``name`` is pointless (missing, exited, crash-looping), or ``None``."""
    container = specs.find(client, name)
    if container is None:
        return "missing"
    state = container.attrs["State"]
    if state["Status"] in ("exited", "dead", "created"):
        return f"{state['Status']} (exit code {state['ExitCode']})"
    restarts = int(container.attrs.get("RestartCount", 0))
    if state["Status"] == "restarting" or restarts > restarts_before:
        return f"crash-looping (exit code {state['ExitCode']}, {restarts} restarts)"
    return None


def _wait(
    what: str,
    ready: Callable[[], bool],
    say: Say,
    deadline_seconds: float = HEALTH_DEADLINE_SECONDS,
    *,
    client: docker.DockerClient | None = None,
    recreate: Callable[[], object] | None = None,
    hint: Callable[[], str] = lambda: "",
) -> None:
    """Wait until ``ready``; a container that cannot get there is recreated once, then reported.

    With ``client``, the container named ``what`` is watched while waiting: missing, exited or
    crash-looping, it is recreated from its spec (``recreate``) once; if that does not help, the
    wait ends at once with its last log lines instead of running into the deadline.
    """
    deadline = time.monotonic() + deadline_seconds
    announced = time.monotonic()
    restarts_before = _restart_count(client, what) if client is not None else 0
    recreated = False
    while not ready():
        if client is not None and (problem := _not_coming_up(client, what, restarts_before)):
            if recreate is None or recreated:
                again = " after being recreated" if recreated else ""
                raise StackError(f"{what} is {problem}{again}{hint()}{_last_log_lines(client, what)}")
            say(f"{what}: {problem}: recreating it")
            specs.remove(client, what)
            recreate()
            recreated, restarts_before = True, 0
        now = time.monotonic()
        if now > deadline:
            logs = _last_log_lines(client, what) if client is not None else ""
            raise StackError(f"{what} did not become healthy within {deadline_seconds:.0f}s{hint()}{logs}")
        if now - announced >= 5:
            say(f"  waiting for {what} ...")
            announced = now
        time.sleep(0.5)


def _report(name: str, action: str, say: Say) -> None:
    if action != "kept":
        say(f"{name}: {action}")


def up(profile: str = "fast", say: Say = print) -> None:
    """Bring the stack up (idempotent) and wait until every service is healthy. A fault a killed game
    day left in place is named first (the fault ledger), with the command that restores it."""
    for line in Ledger().open_lines(platform="docker"):
        say(f"WARNING: {line}")
    check_machine()
    prometheus_config.render(profile)  # a wrong profile fails before anything starts
    client = ensure_engine(say)
    try:
        # the health reads go the way the driver reads them (the engine's API); the SDK creates containers
        reader = EngineClient(engine_endpoint())
    except EngineError as error:
        client.close()
        raise StackError(str(error)) from None
    try:
        started = time.monotonic()
        _refuse_foreign_ports(client)
        revisions.adopt_environment_token()
        base_id = builds.ensure_base_image(client, say)
        builds.ensure_support_images(client, base_id, say)
        _ensure_volumes(client)
        digest = prometheus_config.rendered_digest(prometheus_config.render(profile))
        wanted: dict[str, Callable[[], specs.Spec]] = {
            EVENT_RECORDER: specs.event_recorder_spec,
            REGISTRY: specs.registry_spec,
            POSTGRES: specs.postgres_spec,
            EXPORTER: specs.exporter_spec,
            RECEIVER: specs.receiver_spec,
            API_SERVICE: specs.api_service_spec,
            ALERTMANAGER: lambda: specs.alertmanager_spec(digest),
            PROMETHEUS: lambda: specs.prometheus_spec(profile, digest),
            SYNTHETIC_MONITOR: lambda: specs.synthetic_monitor_spec(profile),  # issue 22: the monitor
        }

        def settle(name: str, ready: Callable[[], bool]) -> None:
            if name == API:
                _wait(
                    name,
                    ready,
                    say,
                    client=client,
                    recreate=lambda: _deploy_api(client, say),
                    hint=_rollout_hint,
                )
            else:
                _wait(name, ready, say, client=client, recreate=lambda: ensure(name))

        def ensure(name: str) -> None:
            _report(name, specs.ensure(client, wanted[name]())[1], say)

        ensure(EVENT_RECORDER)
        ensure(REGISTRY)
        settle(REGISTRY, lambda: answers(HEALTH_URLS[REGISTRY]))
        builds.ensure_api_images(client, base_id, say)
        ensure(POSTGRES)
        settle(POSTGRES, lambda: postgres_ready(reader))
        _sync_database_password(client, say)
        _deploy_api(client, say)
        # the API's Service once the API container left 127.0.0.1:8080 (a stack from before the
        # Service had the API itself there)
        ensure(API_SERVICE)
        for name in (EXPORTER, RECEIVER, ALERTMANAGER, PROMETHEUS):
            ensure(name)
        # each part as health() judges it (its endpoint, and its Docker health check where the image
        # has one: a just-replaced API container answers before its check has passed), so the stack
        # that up() leaves is the one health() calls fine
        for name in PARTS:
            settle(name, lambda name=name: part_health(reader, name).fine)  # type: ignore[misc]
        # issue 22: the synthetic monitor last, once what it checks is up (its first run is then green)
        builds.ensure_monitor_image(client, base_id, say)
        ensure(SYNTHETIC_MONITOR)
        settle(SYNTHETIC_MONITOR, lambda: answers(specs.MONITOR_HEALTH_URL))
        env_file = revisions.write_env_file()
        say(f"local stack is up ({time.monotonic() - started:.0f}s, Prometheus profile {profile}):")
        for name, url in URLS.items():
            say(f"  {name:<18} {url}")
        say(f"  bearer token: run `source {env_file}` to export OFFGRIDFLOW_TOKEN (it is not printed)")
    except (DockerException, EngineError) as error:
        raise StackError(f"the Docker Engine refused: {error}") from None
    finally:
        reader.close()
        client.close()


def images(say: Say = print) -> None:
    """Build what is missing (base, tools, PostgreSQL, both API tags in the registry, the synthetic
    monitor); start nothing else."""
    check_machine()
    client = ensure_engine(say)
    try:
        base_id = builds.ensure_base_image(client, say)
        builds.ensure_support_images(client, base_id, say)
        _ensure_volumes(client)
        _report(REGISTRY, specs.ensure(client, specs.registry_spec())[1], say)
        _wait(REGISTRY, lambda: answers(HEALTH_URLS[REGISTRY]), say)
        builds.ensure_api_images(client, base_id, say)
        builds.ensure_monitor_image(client, base_id, say)  # issue 22: the synthetic monitor's
        say("images are up to date")
    except DockerException as error:
        raise StackError(f"the Docker Engine refused: {error}") from None
    finally:
        client.close()


def _refuse_foreign_ports(client: docker.DockerClient) -> None:
    """One line naming every port of the stack that something else holds: ``up`` must not touch it."""
    foreign = ports.foreign_holders(client)
    if foreign:
        held = "; ".join(f"port {seen.port} ({name}) is held by {seen.describe()}" for name, seen in foreign)
        raise StackError(f"{held}: free it (stop that container or process), then run make up again")


def _ensure_volumes(client: docker.DockerClient) -> None:
    for volume in VOLUMES.values():
        try:
            client.volumes.get(volume)
        except NotFound:
            client.volumes.create(volume, labels={STACK_LABEL: STACK_VALUE})


def _rollout_hint() -> str:
    """What the API runs, when it is not healthy: a game day may have left a faulty revision behind."""
    rollout = revisions.read_rollout()
    revision = rollout.current
    return (
        f"; it runs revision {revision.number} ({revision.change_cause}): roll back with the platform's "
        "rollout_undo, or start afresh with make clean && make up"
    )


def _deploy_api(client: docker.DockerClient, say: Say) -> None:
    with revisions.rollout_lock():
        rollout = revisions.read_rollout()
        revision = rollout.current
        try:
            specs.pull(client, revision.image)
        except specs.PullError as error:
            raise StackError(f"cannot pull {revision.image} from the local registry: {error}") from None
        _report(API, specs.ensure(client, specs.api_spec(revision))[1], say)
        revisions.write_rollout(rollout)


def _stack_containers(client: docker.DockerClient) -> list[docker.models.containers.Container]:
    return list(client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={STACK_VALUE}"}))


def down(say: Say = print) -> None:
    """Remove the stack's containers; volumes (database, registry, alert deliveries) stay."""
    client = ensure_engine(say)
    try:
        order = {name: index for index, name in enumerate(_ALL)}
        for container in sorted(_stack_containers(client), key=lambda c: order.get(c.name, -1)):
            specs.remove(client, container.name)
            say(f"{container.name}: removed")
    finally:
        client.close()


def clean(say: Say = print) -> None:
    """``down`` plus the volumes, the API's rollout history and its Service's selector."""
    down(say)
    client = ensure_engine(say)
    try:
        for volume in client.volumes.list(filters={"label": f"{STACK_LABEL}={STACK_VALUE}"}):
            volume.remove(force=True)
            say(f"volume {volume.name}: removed")
    finally:
        client.close()
    for name in (revisions.ROLLOUT_FILE, revisions.EVENTS_FILE, ENGINE_EVENTS_FILE, API_SERVICE_FILE):
        (state_dir() / name).unlink(missing_ok=True)


def status() -> list[ContainerStatus]:
    """The stack's containers as the engine sees them."""
    client = ensure_engine(lambda _line: None)
    try:
        result = []
        for container in _stack_containers(client):
            state = container.attrs["State"]
            result.append(
                ContainerStatus(
                    name=container.name,
                    app=container.labels.get("app", ""),
                    state=state["Status"],
                    health=(state.get("Health") or {}).get("Status"),
                    restart_count=int(container.attrs.get("RestartCount", 0)),
                    image=container.attrs["Config"]["Image"],
                )
            )
        return sorted(result, key=lambda item: item.name)
    finally:
        client.close()
