"""Fakes for the operator game day's unit tests: a clock, a platform whose reads follow its writes,
and a world that pages, verifies and records what the game day asked of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helpers.chaos_fakes import RecordingPlatform
from helpers.scripted_operator import ScriptedOperator
from offgridflow_runbook.gameday.pages import Page, PageDeliveries
from offgridflow_runbook.operator.changes import read_target
from offgridflow_runbook.operator.desk import Desk
from offgridflow_runbook.operator.session import Hooks
from offgridflow_runbook.platforms import Workload

START = 1_800_000_000.0


@dataclass
class FakeClock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class ChangingPlatform(RecordingPlatform):
    """A RecordingPlatform whose rollout history, configuration and database follow its writes."""

    databases: list[Workload] = field(
        default_factory=lambda: [
            Workload("postgres", "postgres", "Running", True, 0, "postgres:16", uid="db-1")
        ]
    )

    def _revise(self, **changes: Any) -> None:
        latest = self.history[-1]
        self.history.append(replace(latest, number=latest.number + 1, **changes))

    def patch_memory(self, *, limit: str = "2Gi", request: str = "1Gi") -> None:
        super().patch_memory(limit=limit, request=request)
        self._revise(memory_limit=limit, memory_request=request)

    def set_image(self, image: str) -> None:
        super().set_image(image)
        self._revise(image=image)

    def rollout_undo(self) -> None:
        super().rollout_undo()
        previous = self.history[-2]
        self._revise(image=previous.image, memory_limit=previous.memory_limit, config=previous.config)
        self.configuration = dict(previous.config)

    def update_config(self, changes: Mapping[str, str]) -> None:
        super().update_config(changes)
        self.configuration.update(changes)
        self._revise(config={**self.history[-1].config, **changes})

    def kill_database(self) -> None:
        super().kill_database()
        self.databases = [replace(self.databases[0], ready=False, phase="Failed")]

    def restart_database(self) -> None:
        super().restart_database()
        # as Docker restarts a container: the same ID, a new start time
        started = datetime.fromtimestamp(START + len(self.calls), UTC)
        self.databases = [replace(self.databases[0], ready=True, phase="Running", started_at=started)]


@dataclass
class World:
    """The world a game day sees in a unit test: ``fault`` breaks ``platform``, a page arrives
    ``page_after_s`` after the fault, Verification passes once ``healed`` holds (``verify_after_s``
    later), and each sleep moves the clock and lets the scripted operator act."""

    platform: ChangingPlatform
    desk: Desk
    fault: Callable[[ChangingPlatform], None]
    healed: Callable[[ChangingPlatform], bool]
    fix: Callable[[ChangingPlatform], None]
    clock: FakeClock = field(default_factory=FakeClock)
    page_after_s: float = 20.0
    verify_after_s: float = 6.0
    operator: ScriptedOperator | None = None
    state: Callable[[], dict[str, Any]] | None = None
    asked: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    fault_at: float | None = None
    healed_at: float | None = None
    interrupt_after: int | None = None

    def hooks(self) -> Hooks:
        def inject() -> None:
            self.asked.append("inject")
            self.fault(self.platform)
            self.fault_at = self.clock()

        def auto_fix() -> None:
            self.asked.append("auto_fix")
            self.fix(self.platform)

        def rollback() -> str:
            self.asked.append("rollback")
            return "restored"

        def pages(since: float) -> PageDeliveries:
            if self.fault_at is None or self.clock() < self.fault_at + self.page_after_s:
                return PageDeliveries()
            at = self.fault_at + self.page_after_s
            return PageDeliveries(
                (Page("OffGridFlowAPIOOMKilled", "primary-oncall", at, at - 1, "the API was OOMKilled"),)
            )

        def verified() -> bool:
            if not self.healed(self.platform):
                return False
            self.healed_at = self.healed_at or self.clock()
            return self.clock() >= self.healed_at + self.verify_after_s

        def sleep(seconds: float) -> None:
            if self.interrupt_after is not None and len(self.asked) >= self.interrupt_after:
                raise KeyboardInterrupt
            self.clock.now += seconds
            if self.operator is not None and self.state is not None:
                self.operator.step(self.state(), self.clock())

        return Hooks(
            inject=inject,
            auto_fix=auto_fix,
            rollback=rollback,
            settle=lambda: self.asked.append("settle"),
            pages=pages,
            reading=lambda: read_target(self.platform),
            verified=verified,
            desk=self.desk,
            clock=self.clock,
            sleep=sleep,
            say=self.said.append,
        )


def open_desk(directory: Path, clock: FakeClock) -> Desk:
    """A desk with a game day 'running' (as the command opens it), whose commands carry the fake time."""
    desk = Desk(directory, clock=clock)
    desk.open({"target": "local", "pid": 0})
    return desk
