"""One operator game day: inject through the chaos fault activities, then only watch.

:class:`OperatorGameDay` owns the loop; everything it touches comes in through :class:`Hooks` (the
clock, the fault, the safety net's fix, the rollback, the pages, the target's readings, Verification,
the desk), so the phase logic is tested with a fake clock and fakes, and :func:`live_hooks` wires the
real ones: the chaos activities named by the experiment file (guard, identity check and fault ledger
included), the alert receiver's ``/deliveries``, the Platform's reads, ``verify()`` over one look, and
:func:`offgridflow_runbook.restore.restore` for an abort.

Every wait is bounded: the loop ticks at most ``max_ticks`` times and ends at ``deadline_s`` after the
fault (rolling the fault back), and the safety net fixes the fault when the outage reaches
``sla_share`` of the runbook's SLA.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offgridflow_runbook.gameday.alerts import QUIET_DEADLINE_S, wait_for_quiet
from offgridflow_runbook.gameday.modes import Mode
from offgridflow_runbook.gameday.pages import PageDeliveries, first_page
from offgridflow_runbook.operator.changes import Reading, section_of_change
from offgridflow_runbook.operator.desk import Desk
from offgridflow_runbook.operator.phases import FixSeen, OperatorRun

__all__ = ["Hooks", "OperatorGameDay", "Settings", "live_hooks"]


@dataclass
class Hooks:
    """What the game day does to and reads from the world."""

    inject: Callable[[], None]  # the fault, through the chaos fault activities
    auto_fix: Callable[[], None]  # the runbook's fix, through the chaos fix activities
    rollback: Callable[[], str]  # undo the fault (the ledger entry) and clear it
    settle: Callable[[], None]  # after Verification: clear this run's ledger entries
    pages: Callable[[float], PageDeliveries]  # the pages delivered since a time
    reading: Callable[[], Reading | None]  # what the fixes change, read on the target
    verified: Callable[[], bool]  # Verification 1-5 over one look
    desk: Desk
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    say: Callable[[str], None] = print


@dataclass(frozen=True)
class Settings:
    """How the game day is bounded."""

    sla_s: float
    budgets_s: dict[str, float]
    sla_share: float = 0.8
    page_names: tuple[str, ...] = ()  # the alerts that count as this fault's page (empty: any)
    tick_s: float = 2.0
    deadline_s: float = 1800.0  # after the fault: rolled back, whatever happened
    max_ticks: int = 5000
    announce: bool = True  # False (--unannounced): the mode is never printed before the end
    automated: dict[str, Any] | None = None  # the automated scorecard's experiment of this mode
    headings: dict[str, str] = field(default_factory=dict)  # budget -> the runbook heading that sets it


@dataclass
class OperatorGameDay:
    """The loop of one operator game day (see the module's docstring)."""

    mode: Mode
    target: str
    settings: Settings
    hooks: Hooks
    run: OperatorRun = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _baseline: Reading | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.run = OperatorRun(self.mode.name, self.mode.fix, self.target, self.hooks.clock())

    # -- what the live view and the terminal show ---------------------------------------------------
    def _say(self, text: str) -> None:
        now = self.hooks.clock()
        elapsed = "" if self.run.fault_at is None else f"T+{now - self.run.fault_at:6.1f}s "
        line = f"{datetime.fromtimestamp(now, UTC):%H:%M:%S} {elapsed}{text}"
        with self._lock:
            self.run.lines.append(line)
        self.hooks.say(line)

    def view(self) -> dict[str, Any]:
        """The state the live view shows (mode hidden while unannounced and running)."""
        now = self.hooks.clock()
        with self._lock:
            score = self.run.score(self.settings.budgets_s, self.settings.sla_s, now, self.settings.automated)
            score["lines"] = list(self.run.lines[-30:])
        hidden = not self.settings.announce and not self.run.finished
        if hidden:
            for key in ("mode", "section"):
                score[key] = "(unannounced)"
            score["calls"] = [{**call, "right": None} for call in score["calls"]]
            if score["fix_seen"]:
                score["fix_seen"] = {**score["fix_seen"], "right": None}
        for budget in score["budgets"].values():
            budget["heading"] = self.settings.headings.get(budget["budget"], budget["budget"])
        score["now"] = now
        score["clock_s"] = None if self.run.fault_at is None else round(now - self.run.fault_at, 1)
        score["sla_share"] = self.settings.sla_share
        score["auto_fix_at_s"] = round(self.settings.sla_share * self.settings.sla_s, 1)
        return score

    # -- the run --------------------------------------------------------------------------------------
    def start(self) -> None:
        """Inject the fault and take the baseline reading."""
        self._say(
            f"injecting {self.mode.name} ({self.mode.fault}) on {self.target}"
            if self.settings.announce
            else f"injecting an unannounced fault on {self.target}"
        )
        self.hooks.inject()
        self.run.fault_at = self.hooks.clock()
        self._baseline = self.hooks.reading()
        self._say("fault in place; from now on the suite only watches")

    def tick(self) -> None:
        """One look at everything: the desk, the pages, the target, Verification, the safety net."""
        run, hooks, now = self.run, self.hooks, self.hooks.clock()
        assert run.fault_at is not None, "start() first"
        for command in hooks.desk.new_commands():
            self._command(command.kind, command.text, command.at)
            if run.aborted_at is not None:
                return
        if run.detected_at is None:
            delivered = hooks.pages(run.fault_at)
            page = first_page(delivered.pages, run.fault_at, self.settings.page_names or _any(delivered))
            if page is not None:
                run.detected_at, run.page = page.delivered_at, page.as_dict()
                self._say(f"detected: page {page.alert} delivered to {page.receiver}: {page.summary}")
        self._look_for_fix(now)
        outage = now - run.fault_at
        if (
            run.verified_at is None
            and not run.auto_fixed
            and outage >= self.settings.sla_share * self.settings.sla_s
        ):
            self._say(
                f"safety net: the outage reached {self.settings.sla_share:.0%} of the SLA; applying the "
                "runbook's fix"
            )
            hooks.auto_fix()
            at = hooks.clock()
            change = f"auto-fixed at {datetime.fromtimestamp(at, UTC):%H:%M:%S} (T+{at - run.fault_at:.1f}s)"
            run.fixes.append(FixSeen(self.mode.fix, change, at, auto=True))
            self._baseline = hooks.reading() or self._baseline  # the net's own change is not a person's
            self._say(f"{change}: {self.mode.fix}; the run is scored missed")
        if run.verified_at is None and (run.detected_at is not None or run.fixes) and hooks.verified():
            run.verified_at = hooks.clock()
            self._say("verified: Verification 1-5 pass")
            hooks.settle()

    def _look_for_fix(self, now: float) -> None:
        """A change a fix makes since the last one seen: kept, with its section."""
        if self.run.verified_at is not None:
            return
        reading = self.hooks.reading()
        if reading is None or self._baseline is None:
            return
        seen = section_of_change(self._baseline, reading)
        if seen is not None:
            self._baseline = reading
            self.run.fixes.append(FixSeen(seen[0], seen[1], now))
            self._say(f"fixed: {seen[1]} (the change {seen[0]} makes)")

    def _command(self, kind: str, text: str, at: float) -> None:
        run = self.run
        if kind == "ack" and run.acked_at is None:
            run.acked_at = at
            self._say("acknowledged")
        elif kind == "call":
            call = run.call(text, at)
            verdict = ("right" if call.right else "wrong") if self.settings.announce else "kept"
            self._say(f"call: {call.section} ({verdict})")
        elif kind == "note":
            run.notes.append({"text": text, "at": at})
            self._say(f"note: {text}")
        elif kind == "abort":
            self._say(f"abort: rolling the fault back: {self.hooks.rollback()}")
            run.aborted_at = at

    def abort(self, why: str) -> None:
        """Roll the fault back now (SIGINT, the deadline)."""
        if self.run.aborted_at is None and self.run.verified_at is None:
            self._say(f"{why}: rolling the fault back: {self.hooks.rollback()}")
            self.run.aborted_at = self.hooks.clock()

    def play(self) -> OperatorRun:
        """Start, then tick until verified or aborted, bounded in ticks and time; SIGINT rolls back."""
        try:
            self.start()
            assert self.run.fault_at is not None
            for _ in range(self.settings.max_ticks):
                self.tick()
                if self.run.finished:
                    break
                if self.hooks.clock() - self.run.fault_at >= self.settings.deadline_s:
                    self.abort(f"no verification {self.settings.deadline_s:.0f}s after the fault")
                    break
                self.hooks.sleep(self.settings.tick_s)
            else:
                self.abort(f"{self.settings.max_ticks} ticks without verification")
        except KeyboardInterrupt:
            self.abort("interrupted")
        except Exception as error:
            # whatever failed after the fault went in (a read, the safety net's fix, the desk), the
            # fault must not stay: roll it back, then let the error end the game day
            if self.run.fault_at is not None:
                self.abort(f"the game day failed ({type(error).__name__}: {error})")
            raise
        self._say(f"ended: {self.run.outcome()} (mode {self.mode.name}, section {self.mode.fix})")
        return self.run


def _any(deliveries: PageDeliveries) -> tuple[str, ...]:
    """Every alert delivered (a mode whose experiment names no page on this platform)."""
    return tuple({page.alert for page in deliveries.pages})


def live_hooks(
    mode: Mode,
    target: Any,
    run_dir: Path,
    desk: Desk,
    say: Callable[[str], None] = print,
    *,
    quiet_deadline_s: float | None = QUIET_DEADLINE_S,
) -> Hooks:
    """The real world: chaos activities with a configuration (guard, identity, fault ledger), the
    receiver's deliveries, the Platform's reads, ``verify()``, ``restore()``. Before the fault, a
    target that allows chaos is given ``quiet_deadline_s`` to be quiet (None: no wait, for a world
    the caller fakes)."""
    from offgridflow_runbook import chaos
    from offgridflow_runbook.gameday.pages import read_pages
    from offgridflow_runbook.ledger import Ledger
    from offgridflow_runbook.operator.changes import read_target
    from offgridflow_runbook.platforms import PlatformError, platform_for
    from offgridflow_runbook.restore import restore
    from offgridflow_runbook.runbook.verification import verify
    from offgridflow_runbook.targets import write_resolved_target

    run_dir.mkdir(parents=True, exist_ok=True)
    resolved = run_dir / "target.json"
    configuration = {
        "target": target.name,
        "mode": mode.name,
        "gameday_dir": str(run_dir),
        "resolved_target": str(resolved),
        "target_fingerprint": write_resolved_target(target, resolved),
        # the people diagnose, not the suite: no background triage on the target
        "watch_verdicts": "false",
    }
    events = str((run_dir / mode.name / "events.jsonl").resolve())

    def call_all(activities: Any) -> None:
        for step in activities:
            chaos.activity(step.func)(**step.for_target(target.name), configuration=configuration)

    def reading() -> Reading | None:
        try:
            platform = platform_for(target)
        except (PlatformError, ImportError):
            return None
        try:
            return read_target(platform)
        except PlatformError:
            return None
        finally:
            platform.close()

    def rollback() -> str:
        report = restore(target, say=say)
        return (
            "restored" if report.exit_code == 0 else "NOT restored: `offgridflow-runbook restore` takes over"
        )

    def settle() -> None:
        ledger = Ledger()
        for entry in ledger.entries(target.name):
            if entry.events == events:
                ledger.clear(entry, by="operator game day", note="Verification 1-5 passed")

    def inject() -> None:
        # as the automated game day does: the fault lands on a quiet target, so the page the people
        # answer is this fault's, never an earlier fault's alert still firing (or resolving)
        # only a target that allows chaos is read first: any other is refused by the fault's guard
        # before anything, its Prometheus included, is contacted
        waits = quiet_deadline_s is not None and target.allow_chaos and target.prometheus_url
        if waits and (
            noisy := wait_for_quiet(target.prometheus_url, deadline=quiet_deadline_s or 0.0, say=say)
        ):
            say(f"not quiet before the fault: {', '.join(noisy)}")
        call_all(mode.faults)

    return Hooks(
        inject=inject,
        auto_fix=lambda: call_all(mode.fixes),
        rollback=rollback,
        settle=settle,
        pages=lambda since: read_pages(target.alert_receiver_url, since=since),
        reading=reading,
        verified=lambda: verify(target).passed,
        desk=desk,
        say=say,
    )
