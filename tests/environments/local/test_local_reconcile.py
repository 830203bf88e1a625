"""How the stack's containers restart and keep their data, and how ``up`` reconciles (no engine needed)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker.errors import NotFound

from offgridflow_runbook.alerting.profiles import PROFILES, prometheus_flags
from offgridflow_runbook.environments.local import StackError, lifecycle, ports
from offgridflow_runbook.ledger import Ledger
from offgridflow_runbook.platforms.docker import revisions, specs
from offgridflow_runbook.platforms.docker.names import (
    ALERTMANAGER,
    API,
    API_INTERNAL_PORT,
    API_SERVICE,
    PROMETHEUS,
    RESTART_AFTER_KILL_LABEL,
    VOLUMES,
)
from offgridflow_runbook.targets import load_target


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OFFGRIDFLOW_STATE_DIR", str(tmp_path))
    return tmp_path


def _all_specs() -> list[specs.Spec]:
    return [
        specs.api_spec(revisions.initial_rollout().current),
        specs.postgres_spec(),
        specs.registry_spec(),
        specs.event_recorder_spec(),
        specs.api_service_spec(),
        specs.exporter_spec(),
        specs.receiver_spec(),
        specs.prometheus_spec("fast", "digest"),
        specs.alertmanager_spec("digest"),
    ]


def test_every_container_restarts_like_a_pod_unless_an_operator_stopped_it(state: Path):
    policies = {spec["name"]: spec["restart_policy"]["Name"] for spec in _all_specs()}
    assert set(policies.values()) == {"unless-stopped"}, policies


@pytest.mark.parametrize(("service", "path"), [(PROMETHEUS, "/prometheus"), (ALERTMANAGER, "/alertmanager")])
def test_monitoring_keeps_its_data_on_a_named_volume_not_a_tmpfs(state: Path, service: str, path: str):
    spec = next(spec for spec in _all_specs() if spec["name"] == service)
    assert "tmpfs" not in spec
    assert spec["volumes"][VOLUMES[service]] == {"bind": path, "mode": "rw"}


@pytest.mark.parametrize("profile", PROFILES)
def test_the_local_prometheus_runs_with_its_profiles_flags(state: Path, profile: str):
    command = specs.prometheus_spec(profile, "digest")["command"]
    assert [arg for arg in command if arg.startswith("--query.")] == prometheus_flags(profile)


def test_only_the_database_stays_down_after_docker_kill(state: Path):
    # The DB-kill failure mode: the runbook's Fix 1 brings it back, not the stack.
    labels = {spec["name"]: spec["labels"].get(RESTART_AFTER_KILL_LABEL) for spec in _all_specs()}
    assert [name for name, value in labels.items() if value == "false"] == ["postgres"]


def test_the_api_listens_behind_its_service_whatever_a_revision_configures(state: Path):
    # a revision from before the Service named 8080 itself: the container still leaves 8080 to the proxy
    revision = revisions.initial_rollout().current
    revision.config["OFFGRIDFLOW_HTTP_PORT"] = "8080"
    api = specs.api_spec(revision)
    proxy = specs.api_service_spec()
    assert api["environment"]["OFFGRIDFLOW_HTTP_PORT"] == str(API_INTERNAL_PORT)
    assert proxy["environment"]["API_SERVICE_TARGET_PORT"] == str(API_INTERNAL_PORT)
    assert proxy["environment"]["API_SERVICE_PORT"] == "8080"
    assert ports.PORTS[API_SERVICE] == (8080,)
    assert 8080 not in ports.PORTS[API]
    # the proxy reads the selector and the engine, and changes neither
    assert {volume["mode"] for volume in proxy["volumes"].values()} == {"ro"}


def test_a_port_held_by_another_container_of_the_stack_is_not_foreign(monkeypatch: pytest.MonkeyPatch):
    # a stack from before the API's Service: its API container holds 8080, which `up` moves
    seen = ports.Holder(8080, 1, "offgridflow-api", container=API, in_stack=True)
    monkeypatch.setattr(ports, "PORTS", {API_SERVICE: (8080,)})
    monkeypatch.setattr(ports, "holder", lambda _client, _port: seen)
    assert ports.foreign_holders(_EngineWithoutContainers()) == []  # type: ignore[arg-type]
    monkeypatch.setattr(ports, "holder", lambda _client, _port: ports.Holder(8080, 1, "nc -l 8080"))
    assert [service for service, _ in ports.foreign_holders(_EngineWithoutContainers())] == [API_SERVICE]  # type: ignore[arg-type]


class _NoContainers:
    def get(self, _identifier: str) -> Any:
        raise NotFound("no such container")

    def list(self, **_filters: Any) -> list[Any]:
        return []


class _EngineWithoutContainers:
    containers = _NoContainers()


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def test_a_port_held_by_a_process_names_its_pid(listening_port: int):
    seen = ports.holder(_EngineWithoutContainers(), listening_port)  # type: ignore[arg-type]
    assert seen is not None
    assert seen.pid == os.getpid()
    assert seen.describe().startswith(f"process {os.getpid()} (")


def test_a_free_port_has_no_holder(listening_port: int):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    assert ports.holder(_EngineWithoutContainers(), free) is None  # type: ignore[arg-type]


def test_up_refuses_a_foreign_process_on_a_needed_port_in_one_line(
    listening_port: int, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(ports, "PORTS", {PROMETHEUS: (listening_port,)})
    with pytest.raises(StackError) as raised:
        lifecycle._refuse_foreign_ports(_EngineWithoutContainers())  # type: ignore[arg-type]
    message = str(raised.value)
    assert "\n" not in message
    assert f"port {listening_port} (prometheus) is held by process {os.getpid()}" in message
    assert message.endswith("free it (stop that container or process), then run make up again")


class _StandIn:
    """A container stuck in Docker's restart back-off, or healthy once ``recover`` is called."""

    def __init__(self, status: str = "restarting", restarts: int = 4) -> None:
        self.name = PROMETHEUS
        self.status = status
        self.attrs: dict[str, Any] = {"State": {"Status": status, "ExitCode": 2}, "RestartCount": restarts}
        self.removed = False

    def stop(self, **_options: Any) -> None:
        pass

    def remove(self, **_options: Any) -> None:
        self.removed = True

    def logs(self, **_options: Any) -> bytes:
        return b"panic: Unable to create mmap-ed active query log"


class _Containers:
    def __init__(self, container: _StandIn) -> None:
        self.current = container

    def get(self, _name: str) -> _StandIn:
        return self.current


class _Engine:
    def __init__(self, container: _StandIn) -> None:
        self.containers = _Containers(container)


def test_a_crash_looping_container_is_recreated_and_then_waited_for(state: Path):
    engine = _Engine(_StandIn())
    fresh = _StandIn(status="running", restarts=0)

    def recreate() -> None:
        engine.containers.current = fresh

    lines: list[str] = []
    lifecycle._wait(
        PROMETHEUS,
        lambda: engine.containers.current is fresh,
        lines.append,
        30,
        client=engine,  # type: ignore[arg-type]
        recreate=recreate,
    )
    assert lines == ["prometheus: crash-looping (exit code 2, 4 restarts): recreating it"]


def test_up_gives_up_at_once_on_a_container_that_crash_loops_even_when_recreated(state: Path):
    engine = _Engine(_StandIn())
    started = time.monotonic()
    with pytest.raises(StackError) as raised:
        lifecycle._wait(
            PROMETHEUS,
            lambda: False,
            lambda _line: None,
            60,
            client=engine,  # type: ignore[arg-type]
            recreate=lambda: setattr(engine.containers, "current", _StandIn()),
        )
    assert time.monotonic() - started < 5, "waited for the deadline instead of reporting the crash loop"
    first_line = str(raised.value).splitlines()[0]
    assert first_line == "prometheus is crash-looping (exit code 2, 4 restarts) after being recreated"
    assert "mmap-ed active query log" in str(raised.value)


class _Exec:
    def __init__(self, exit_code: int, output: bytes) -> None:
        self.exit_code, self.output = exit_code, output


class _Database:
    """The postgres container answering ``psql`` with the given results, one per call."""

    def __init__(self, *answers: _Exec) -> None:
        self.answers = list(answers)

    def exec_run(self, _command: list[str]) -> _Exec:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


FULL = _Exec(2, b"psql: error: FATAL:  sorry, too many clients already")


def test_at_max_connections_up_waits_for_a_free_connection(state: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(lifecycle.time, "sleep", lambda _seconds: None)
    database = _Database(FULL, _Exec(0, b""))
    lines: list[str] = []
    lifecycle._sync_database_password(_Engine(database), lines.append)  # type: ignore[arg-type]
    assert lines == ["  postgres is at max_connections: waiting for a free connection ..."]


def test_at_max_connections_for_good_up_says_what_to_do_in_one_line(
    state: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(lifecycle, "PASSWORD_DEADLINE_SECONDS", 0.0)
    with pytest.raises(StackError) as raised:
        lifecycle._sync_database_password(_Engine(_Database(FULL)), lambda _line: None)  # type: ignore[arg-type]
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("postgres has no free connection (max_connections reached)")
    assert message.endswith("then run make up again")


def test_up_names_an_open_fault_ledger_entry_first(monkeypatch: pytest.MonkeyPatch) -> None:
    targets = Path(__file__).parents[3] / "targets.yaml"
    entry = Ledger().open(load_target("local", targets), mode="bad-image", fault="set image x:v9", undo=[])
    Ledger().open(load_target("kind", targets), mode="oom", fault="on the cluster", undo=[])

    def stop_here() -> None:
        raise StackError("stopped before the engine (this test)")

    monkeypatch.setattr(lifecycle, "check_machine", stop_here)
    said: list[str] = []
    with pytest.raises(StackError, match="stopped before the engine"):
        lifecycle.up(say=said.append)
    [line] = said  # the local stack's entry only, not the cluster's
    assert line.startswith(f"WARNING: open fault ledger entry {entry.id} ")
    assert "run `offgridflow-runbook restore --target local`" in line
