"""The event recorder starts again what ``docker kill`` ended, and nothing an operator stopped."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "event_recorder.py"
KILLED = "c0ffee"


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SCRIPT.parent))  # stack_engine.py beside it, as in the tools image
    spec = importlib.util.spec_from_file_location("event_recorder_under_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Engine:
    """The recorder's view of the engine: one exited container, and the starts it was asked for."""

    def __init__(self, status: str = "exited", labels: dict[str, str] | None = None) -> None:
        self.status = status
        self.labels = labels or {"app": "prometheus"}
        self.started: list[str] = []

    def get(self, path: str) -> dict[str, Any]:
        return {"Name": "/prometheus", "State": {"Status": self.status}, "Config": {"Labels": self.labels}}

    def post(self, path: str) -> int:
        self.started.append(path)
        return 204


@pytest.fixture
def engine(recorder: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Engine:
    fake = Engine()
    monkeypatch.setattr(recorder, "_engine_get", fake.get)
    monkeypatch.setattr(recorder, "_engine_post", fake.post)
    return fake


@pytest.fixture
def timers(recorder: ModuleType, monkeypatch: pytest.MonkeyPatch) -> list[Callable[[], None]]:
    """The grace-period checks, run by the test when it chooses (after the events it feeds)."""
    pending: list[Callable[[], None]] = []

    class Timer:
        def __init__(self, _delay: float, function: Callable[..., None], args: tuple[Any, ...]) -> None:
            self.run = lambda: function(*args)

        def start(self) -> None:
            pending.append(self.run)

    monkeypatch.setattr(recorder.threading, "Timer", Timer)
    return pending


def feed(recorder: ModuleType, *actions: str) -> None:
    for action in actions:
        recorder.supervise({"id": KILLED, "Action": action})


def test_a_docker_kill_is_followed_by_a_start(recorder: ModuleType, engine: Engine, timers: list):
    feed(recorder, "kill", "die")
    for check in timers:
        check()
    assert engine.started == [f"/containers/{KILLED}/start"]


@pytest.mark.parametrize(
    "after", [("stop",), ("stop", "start", "restart"), ("destroy",)], ids=["stop", "restart", "rm -f"]
)
def test_what_an_operator_stopped_restarted_or_removed_is_left_alone(
    recorder: ModuleType, engine: Engine, timers: list, after: tuple[str, ...]
):
    feed(recorder, "kill", "die", *after)
    for check in timers:
        check()
    assert engine.started == []


def test_a_crash_is_left_to_the_restart_policy(recorder: ModuleType, engine: Engine, timers: list):
    feed(recorder, "oom", "die")
    assert timers == []


def test_a_container_that_must_stay_down_after_a_kill_is_not_started(
    recorder: ModuleType, engine: Engine, timers: list
):
    engine.labels = {"app": "postgres", "com.offgridflow.restart-after-kill": "false"}
    feed(recorder, "kill", "die")
    for check in timers:
        check()
    assert engine.started == []


def test_a_killed_container_already_running_again_is_not_started_twice(
    recorder: ModuleType, engine: Engine, timers: list
):
    engine.status = "running"
    feed(recorder, "kill", "die")
    for check in timers:
        check()
    assert engine.started == []
