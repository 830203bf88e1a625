"""The Docker platform: the runbook's operations on the local stack, read over the engine's API.

Containers stand in for pods (``app`` label, RestartCount, OOMKilled, exit code), engine events for
namespace events, and a revision history in ``.state/`` for the Deployment's ReplicaSets; see
docs/platforms.md for where the behaviour differs from Kubernetes. Every read, and every change that
needs no container spec, goes through :mod:`.engine_client` (httpx on the engine's socket); the
Docker SDK is imported only by a change that creates a stack container from its spec (a rollout).
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, ParamSpec, TypeVar

import httpx

from offgridflow_runbook.platforms.base import (
    CRASH_POSTGRES,
    CommandResult,
    Event,
    NetworkStatus,
    PlatformError,
    Revision,
    RolloutStatus,
    Usage,
    Workload,
)
from offgridflow_runbook.platforms.docker import observe, revisions, rollout, service, specs, usage
from offgridflow_runbook.platforms.docker.engine_client import (
    ContainerInfo,
    EngineClient,
    EngineError,
    EngineTimeout,
    NoSuchContainer,
    engine_endpoint,
)
from offgridflow_runbook.platforms.docker.health import PartHealth, exec_refused_not_running, health
from offgridflow_runbook.platforms.docker.names import (
    API,
    API_METRICS_PORT,
    API_SERVICE,
    API_SERVICE_PORT,
    ENGINE_EVENTS_FILE,
    POSTGRES,
    POSTGRES_IMAGE,
    STACK_LABEL,
    STACK_VALUE,
    state_dir,
)
from offgridflow_runbook.platforms.identity import SeenIdentity
from offgridflow_runbook.probes.http import http_client
from offgridflow_runbook.targets import Target

if TYPE_CHECKING:
    import docker

__all__ = ["DockerPlatform"]

PG_ISREADY = ("pg_isready", "-h", "127.0.0.1", "-p", "5432")
# the label of the driver's one-off containers, and the age past which one that exited was left behind
ONE_OFF_LABEL = "com.offgridflow.one-off"
_ONE_OFF_STALE_S = 120.0
_ONE_OFF_LEFT_STATES = ("exited", "created", "dead")  # what a killed waiter leaves; never "running"


def host_pg_isready(container: ContainerInfo) -> CommandResult | None:
    """``pg_isready`` run on this machine when the database container shares its network (the
    local stack: host network, an engine on this machine) and pg_isready is installed: the same
    127.0.0.1:5432 the API reaches, without an exec (100-300 ms of the engine's time). None otherwise."""
    executable = shutil.which(PG_ISREADY[0])
    if (
        executable is None
        or container.attrs["HostConfig"].get("NetworkMode") != "host"
        or usage.host_cgroup(int(container.attrs["State"].get("Pid") or 0), str(container.id)) is None
    ):
        return None
    try:
        result = subprocess.run(
            [executable, *PG_ISREADY[1:]], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return CommandResult(PG_ISREADY, result.returncode, result.stdout + result.stderr)


# What users, probes and Prometheus address: the API's Service and the API's metrics port.
API_PORTS = (API_SERVICE_PORT, API_METRICS_PORT)
_POLL_SECONDS = 0.5
_EVENT_ACTIONS = {
    "oom": ("Warning", "OOMKilled"),
    "die": ("Warning", "Died"),
    "kill": ("Normal", "Killing"),
    "start": ("Normal", "Started"),
    "create": ("Normal", "Created"),
    "destroy": ("Normal", "Deleted"),
}
# The engine keeps a bounded event buffer; older history is not needed to read the last run.
_DEFAULT_EVENTS_WINDOW = timedelta(hours=1)

P = ParamSpec("P")
R = TypeVar("R")


def _recorded_engine_events(since: datetime) -> list[dict[str, Any]]:
    """What the stack's event recorder kept: the engine's own buffer holds only its last 256 events."""
    try:
        lines = (state_dir() / ENGINE_EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    threshold = since.timestamp() * 1e9
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line being written right now
        if int(event.get("timeNano", 0)) >= threshold:
            events.append(event)
    return events


def _merge(*sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique = {(e.get("id"), e.get("Action"), e.get("timeNano")): e for source in sources for e in source}
    return sorted(unique.values(), key=lambda event: int(event.get("timeNano", 0)))


def _answers_http(port: int) -> bool:
    """Any HTTP answer from 127.0.0.1:``port`` (a reset or a refusal is none).

    Plain http through the probes' client: ``httpx.get`` would build a verifying SSL context for it,
    loading the CA bundle (30-60 ms of CPU per call, twice a look) for a request that does no TLS."""
    try:
        with http_client(timeout=1) as client:
            client.get(f"http://127.0.0.1:{port}/health/live")
    except httpx.HTTPError:
        return False
    return True


def _sdk_failure(error: Exception) -> bool:
    """A failure of the Docker SDK (only a change that creates a container has imported it)."""
    errors = sys.modules.get("docker.errors")
    return errors is not None and isinstance(error, errors.DockerException)


def _engine_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Docker failures become one-line PlatformErrors naming the operation."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except Exception as error:
            if not isinstance(error, EngineError) and not _sdk_failure(error):
                raise
            explanation = getattr(error, "explanation", None) or str(error)
            raise PlatformError(f"docker: {method.__name__.strip('_')} failed: {explanation}") from None

    return wrapper


class DockerPlatform:
    """The runbook's operations on the local Docker stack (``make up``)."""

    kind: ClassVar[str] = "docker"

    def __init__(self, target: Target) -> None:
        self.target = target
        # read once, with the client below: the endpoint this instance really talks to
        self.engine = engine_endpoint()
        engine: EngineClient | None = None
        try:
            engine = EngineClient(self.engine, timeout=60)
            engine.ping()
        except EngineError as error:
            if engine is not None:
                engine.close()
            raise PlatformError(
                f"target {target.name!r}: cannot reach the Docker Engine ({error.explanation}); "
                "is dockerd running? `make up` starts it and the local stack"
            ) from None
        self._engine = engine
        self._sdk_client: docker.DockerClient | None = None

    def _sdk(self) -> docker.DockerClient:
        """The Docker SDK's client, for the changes that create a stack container from its spec
        (:func:`.specs.ensure`); made on the first such change, so a read-only run never imports it."""
        if self._sdk_client is None:
            import docker

            self._sdk_client = docker.from_env(timeout=60)
        return self._sdk_client

    # -- helpers --------------------------------------------------------------------------------
    def _containers(self, app: str) -> list[ContainerInfo]:
        return self._engine.containers(labels=[f"{STACK_LABEL}={STACK_VALUE}", f"app={app}"])

    def _container(self, name: str) -> ContainerInfo | None:
        return self._engine.container(name)

    def _engine_events(self, since: datetime) -> list[dict[str, Any]]:
        # The engine holds the answer open until ``until``: now, so it answers at once.
        answered = self._engine.events(
            since=since,
            until=time.time(),
            filters={"type": "container", "label": f"{STACK_LABEL}={STACK_VALUE}"},
        )
        live = [event for event in answered if not str(event.get("Action", "")).startswith("exec_")]
        return _merge(_recorded_engine_events(since), live)

    def _workloads(self, app: str) -> list[Workload]:
        containers = self._containers(app)
        engine_events = self._engine_events(datetime.now(UTC) - _DEFAULT_EVENTS_WINDOW) if containers else []
        return [observe.workload(container, engine_events) for container in containers]

    # -- read ----------------------------------------------------------------------------------
    def _pull_answer(self, image: str) -> str | None:
        """What the engine answers, asking the registry now, about pulling ``image`` (None: it can)."""
        return self._engine.pull_refusal(image)

    @_engine_errors
    def api_workloads(self) -> list[Workload]:
        workloads = self._workloads(API)
        state = revisions.read_rollout()
        if state.stalled:
            # The stalled revision is the Deployment's wish (kept in .state/); whether its image can
            # be pulled is the engine's answer from the registry, asked on every read like a kubelet.
            image = state.stalled["image"]
            answer = self._pull_answer(image)
            failing = answer is not None
            workloads.append(
                Workload(
                    name=f"{API}-rev{state.stalled['revision']}",
                    app=API,
                    phase="Pending",
                    ready=False,
                    restart_count=0,
                    image=image,
                    waiting_reason=rollout.stalled_reason(state) if failing else "ContainerCreating",
                    waiting_message=(
                        f'Failed to pull image "{image}": {answer}'
                        if failing
                        else "the image is in the registry now; the stalled rollout was not retried"
                    ),
                )
            )
        return workloads

    @_engine_errors
    def database_workloads(self) -> list[Workload]:
        return self._workloads(POSTGRES)

    @_engine_errors
    def events(self, since: datetime | None = None) -> list[Event]:
        start = since or datetime.now(UTC) - _DEFAULT_EVENTS_WINDOW
        found = []
        for raw in self._engine_events(start):
            action = str(raw.get("Action", "")).split(":")[0]
            if action not in _EVENT_ACTIONS:
                continue
            attributes = raw.get("Actor", {}).get("Attributes", {})
            kind, reason = _EVENT_ACTIONS[action]
            if action == "die":
                code = int(attributes.get("exitCode", 0))
                kind, message = ("Warning" if code else "Normal"), f"container exited with code {code}"
            elif action == "kill":
                message = f"killed with signal {attributes.get('signal', '?')}"
            elif action == "oom":
                message = "the kernel's OOM killer ended a process at the container's memory limit"
            else:
                message = f"container {action}"
            at = datetime.fromtimestamp(int(raw["timeNano"]) / 1e9, UTC)
            found.append(
                Event(
                    at=at,
                    type=kind,
                    reason=reason,
                    message=message,
                    involved=attributes["name"],
                    involved_uid=raw.get("id"),
                )
            )
        for entry in revisions.recorded_events():
            at = datetime.fromisoformat(entry["at"])
            if at >= start:
                found.append(
                    Event(
                        at=at,
                        type=entry["type"],
                        reason=entry["reason"],
                        message=entry["message"],
                        involved=entry["involved"],
                    )
                )
        return sorted(found, key=lambda event: event.at)

    @_engine_errors
    def api_logs(self, *, tail: int = 100, previous: bool = False) -> dict[str, str]:
        logs = {}
        for container in self._containers(API):
            if previous and int(container.attrs.get("RestartCount", 0)) == 0:
                continue
            raw = self._engine.logs(container, timestamps=True)
            lines = observe.split_runs(container, raw, previous=previous)
            logs[container.name] = "\n".join(lines[-tail:] if tail > 0 else lines)
        return logs

    @_engine_errors
    def database_logs(self, *, tail: int = 50) -> str:
        container = self._container(POSTGRES)
        if container is None:
            raise PlatformError("the postgres container does not exist (make up)")
        return self._engine.logs(container, tail=tail)

    @_engine_errors
    def pg_isready(self) -> CommandResult:
        """``pg_isready`` in the postgres container, or in a one-off one from its image when it is down."""
        container = self._container(POSTGRES)
        if container is not None and container.status == "running":
            here = host_pg_isready(container)
            if here is not None:
                return here
            try:
                exit_code, output = self._engine.exec(container.id, PG_ISREADY)
                return CommandResult(PG_ISREADY, exit_code, output)
            except EngineError as error:
                # it stopped between the listing and the exec (a kill, a crash): ask as if it were down
                if not exec_refused_not_running(error):
                    raise
        return self._one_off_pg_isready()

    def _one_off_pg_isready(self) -> CommandResult:
        """``pg_isready`` from a one-off container of the database's image on the host network,
        removed whatever happens (its wait is bounded: pg_isready gives up after 3 s by itself)."""
        self._sweep_one_offs()
        one_off = self._engine.create(
            POSTGRES_IMAGE,
            PG_ISREADY,
            network_mode="host",
            labels={ONE_OFF_LABEL: "pg_isready"},  # not the stack's label: not one of its parts
        )
        try:
            self._engine.start(one_off)
            status = self._engine.wait(one_off, timeout=30)
            ended = self._engine.container(one_off)
            text = self._engine.logs(ended) if ended is not None else ""
            return CommandResult(PG_ISREADY, status, text or "127.0.0.1:5432 - no response\n")
        except EngineTimeout as error:  # the bounded wait ran out
            raise PlatformError(f"docker: pg_isready: the one-off container did not end: {error}") from None
        finally:
            with contextlib.suppress(NoSuchContainer):
                self._engine.remove(one_off)

    def _sweep_one_offs(self) -> None:
        """Remove the one-offs a process left when it was killed while waiting on one (SIGKILL runs
        no ``finally``): not running (exited; or created and never started, when the kill came
        between the two calls, as a killed game day's once did), and older than any live one-off can be."""
        now = datetime.now(UTC)
        for left in self._engine.containers(labels=[ONE_OFF_LABEL]):
            if left.status not in _ONE_OFF_LEFT_STATES:
                continue
            created = observe.parse_time(left.attrs.get("Created"))
            if created is not None and (now - created).total_seconds() > _ONE_OFF_STALE_S:
                with contextlib.suppress(NoSuchContainer):
                    self._engine.remove(left.id)

    @_engine_errors
    def resource_usage(self) -> list[Usage]:
        running = [container for container in self._containers(API) if container.status == "running"]
        return [usage.container_usage(self._engine, container) for container in running]

    @_engine_errors
    def network(self) -> NetworkStatus:
        """The API's Service as its Endpoints: the API containers its selector matches, ready or not
        (ready: running and healthy, as the event recorder reports them), and which of the addresses
        users and Prometheus reach answer over HTTP (the Service resets a connection it cannot route)."""
        answering = [f"127.0.0.1:{port}" for port in API_PORTS if _answers_http(port)]
        try:
            selector: dict[str, str] | None = service.read_selector()
        except PlatformError:
            selector = None
        selected = [
            container
            for container in self._containers(API)  # no engine events needed (~20 ms a look)
            if selector is not None and service.matches(container.labels, selector)
        ]
        ready = sum(1 for container in selected if observe.container_ready(container))
        shown = ",".join(f"{key}={value}" for key, value in sorted((selector or {}).items()))
        seen = f"selects {len(selected)} API container(s) ({shown})" if selector else "selector unreadable"
        detail = f"{API_SERVICE} {seen}; {len(answering)} of {len(API_PORTS)} ports answer on 127.0.0.1"
        return NetworkStatus(
            ingresses=(),
            ready_endpoints=ready,
            not_ready_endpoints=len(selected) - ready,
            published=tuple(answering),
            detail=detail,
            service_selector=tuple(sorted(selector.items())) if selector is not None else None,
            selected_pods=len(selected) if selector is not None else None,
        )

    def api_service_selector(self) -> dict[str, str]:
        """The routing proxy's selector (``.state/api-service.json``; ``app=offgridflow-api`` when no
        one changed it). PlatformError when the file cannot be read."""
        return service.read_selector()

    @_engine_errors
    def rollout_status(self) -> RolloutStatus:
        state = revisions.read_rollout()
        instances = self._workloads(API)
        available = sum(1 for w in instances if w.ready)
        waiting = 'Waiting for deployment "offgridflow-api" rollout to finish'
        if state.stalled:
            return RolloutStatus(
                False, 1, 0, available, f"{waiting}: 0 of 1 updated replicas are available..."
            )
        if state.deployed == state.latest.number and available:
            return RolloutStatus(
                True, 1, 1, available, 'deployment "offgridflow-api" successfully rolled out'
            )
        return RolloutStatus(
            False, 1, len(instances), available, f"{waiting}: 0 of 1 updated replicas are available..."
        )

    def rollout_history(self) -> list[Revision]:
        return [
            Revision(
                number=item.number,
                image=item.image,
                memory_limit=item.memory_limit,
                memory_request=item.memory_request,
                config=dict(item.config),
                change_cause=item.change_cause or None,
            )
            for item in revisions.read_rollout().revisions
        ]

    def config(self) -> dict[str, str]:
        """The latest revision's ``offgridflow-config`` (what a ConfigMap holds, whether or not it runs)."""
        return dict(revisions.read_rollout().latest.config)

    def config_scheme(self) -> Literal["hashed"]:
        """Each revision carries its own configuration, so ``rollout undo`` restores the old values."""
        return "hashed"

    def stack_parts(self) -> list[PartHealth]:
        """Docker only: each part of the local stack (API, database, exporter, Prometheus, Alertmanager,
        receiver, registry, event recorder) fine, bad or unknown, with what was seen. A stopped
        Prometheus is ``bad`` here, where the Prometheus probe can only say it could not read."""
        return health(self._engine)

    @_engine_errors
    def identity(self, *, contact: bool = True) -> SeenIdentity:
        """The engine endpoint the client uses; with ``contact`` also the stack label this driver acts
        on when the engine has containers carrying it (``com.offgridflow.stack=local``)."""
        labels: tuple[str, ...] | None = None
        if contact:
            found = self._engine.container_ids(labels=[f"{STACK_LABEL}={STACK_VALUE}"])
            labels = (STACK_VALUE,) if found else ()
        return SeenIdentity(platform=self.kind, docker_host=self.engine, stack_labels=labels)

    # -- change --------------------------------------------------------------------------------
    @_engine_errors
    def rollout_restart(self) -> None:
        rollout.restart(self._sdk())

    def wait_rollout(self, timeout: float = 120.0) -> RolloutStatus:
        deadline = time.monotonic() + timeout
        status = self.rollout_status()
        while not status.complete and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
            status = self.rollout_status()
        return status

    @_engine_errors
    def patch_memory(self, *, limit: str = "2Gi", request: str = "1Gi") -> None:
        for quantity in (limit, request):
            try:
                specs.quantity_bytes(quantity)
            except ValueError as error:
                raise PlatformError(str(error)) from None
        rollout.change(
            self._sdk(),
            f"memory limit {limit}, request {request}",
            memory_limit=limit,
            memory_request=request,
        )

    @_engine_errors
    def set_image(self, image: str) -> None:
        if ":" not in image.rsplit("/", 1)[-1]:
            raise PlatformError(
                f"set image: {image!r} names no tag (expected e.g. 127.0.0.1:5000/offgridflow-api:v1.2.3)"
            )
        rollout.change(self._sdk(), f"set image api={image}", image=image)

    @_engine_errors
    def rollout_undo(self) -> None:
        rollout.undo(self._sdk())

    @_engine_errors
    def update_config(self, changes: Mapping[str, str]) -> None:
        config = dict(revisions.read_rollout().latest.config) | dict(changes)
        described = ", ".join(f"{key}={value}" for key, value in sorted(changes.items()))
        rollout.change(self._sdk(), f"configuration {described}", config=config)

    def set_api_service_selector(self, selector: Mapping[str, str]) -> None:
        """Replace the routing proxy's selector whole; the proxy and the event recorder read it on their
        next connection and scrape (within a second), as kube-proxy follows a patched Service. The
        selector it already has changes nothing."""
        wanted = dict(selector)
        if not all(isinstance(key, str) and isinstance(value, str) for key, value in wanted.items()):
            raise PlatformError(f"the API Service's selector must map label names to values, not {wanted!r}")
        if service.read_selector() == wanted:
            return
        service.write_selector(wanted)

    @_engine_errors
    def kill_database(self) -> None:
        container = self._container(POSTGRES)
        if container is None or container.status != "running":
            raise PlatformError("kill database: the postgres container is not running")
        self._engine.kill(container.id, signal="SIGKILL")

    @_engine_errors
    def crash_database(self) -> None:
        container = self._container(POSTGRES)
        if container is None or container.status != "running":
            raise PlatformError("crash database: the postgres container is not running")
        # the server stops without a checkpoint, like a crash; the container exits with it
        self._engine.exec(container.id, CRASH_POSTGRES, user="postgres")

    @_engine_errors
    def restart_database(self) -> None:
        container = self._container(POSTGRES)
        if container is None:
            specs.ensure(self._sdk(), specs.postgres_spec())
        elif container.status == "running":
            self._engine.restart(container.id, timeout=30)
        else:
            self._engine.start(container.id)

    def wait_database_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        result = self.pg_isready()
        while result.exit_code != 0:
            if time.monotonic() > deadline:
                raise PlatformError(f"postgres was not ready within {timeout:.0f}s: {result.output.strip()}")
            time.sleep(_POLL_SECONDS)
            result = self.pg_isready()

    def close(self) -> None:
        self._engine.close()
        if self._sdk_client is not None:
            self._sdk_client.close()
