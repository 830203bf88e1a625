"""The SIGKILL matrix's steps, shared by the Docker (tests/e2e) and kind (tests/kind) tiers.

One case: Verification 1-5 pass; a writer of the test's own posts activities; ``chaos run`` starts
the mode's experiment; once its fault is recorded (``fault_at``), its ledger entry is on disk and
the fault shows on the platform, the ``chaos`` process is killed with SIGKILL (its rollbacks never
run). Then the entry must be open, ``offgridflow-runbook restore --target T`` must exit 0 with
Verification 1-5 passing again, the ledger must be empty, and every write acknowledged to the test's
writer and to the experiment's own (its ``.acked`` file) must read back. Every wait is bounded.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offgridflow_runbook.gameday.events import EventKind
from offgridflow_runbook.gameday.modes import load_modes
from offgridflow_runbook.gameday.runner import RunningExperiment, start_experiment
from offgridflow_runbook.ledger import Entry, Ledger, UndoAction
from offgridflow_runbook.platforms import Platform, platform_for
from offgridflow_runbook.probes.http import ApiProbe, ProbeError
from offgridflow_runbook.restore import verify_within
from offgridflow_runbook.targets import Target

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ROOT / "chaos" / "experiments"
TARGETS_FILE = ROOT / "targets.yaml"
BEFORE_S = 240.0  # the steady state (and oom's set-up rollout) before the fault
ENTRY_S = 30.0  # from fault_at to the entry on disk (microseconds apart; oom reads the history first)
FAULT_SHOWS_S = 60.0
RESTORE_S = 900.0  # restore's own deadlines: rollouts, then Verification 1-5 (alerts resolving)
PRECONDITION_S = 240.0  # an earlier test's alerts resolving before this one starts


@dataclass(frozen=True)
class Before:
    """What the platform showed before the experiment started."""

    restarts: dict[str, int]
    image: str


def fault_arguments(mode: str, func: str) -> dict[str, Any]:
    """The arguments the experiment file gives its fault ``func`` (the file is the one source)."""
    document = json.loads((EXPERIMENTS / f"{mode}.json").read_text(encoding="utf-8"))
    found = [a["provider"].get("arguments", {}) for a in document["method"] if a["provider"]["func"] == func]
    if not found:
        raise AssertionError(f"{mode}.json has no {func}")
    arguments: dict[str, Any] = found[0]
    return arguments


def _restarts(platform: Platform) -> dict[str, int]:
    return {w.name: w.restart_count for w in platform.api_workloads()}


def _oom_killed(platform: Platform, before: Before) -> bool:
    workloads = platform.api_workloads()
    restarted = any(w.restart_count > before.restarts.get(w.name, 0) for w in workloads)
    return restarted or any(
        w.last_termination is not None and w.last_termination.oom_killed for w in workloads
    )


def _database_down(platform: Platform, before: Before) -> bool:
    return platform.pg_isready().exit_code != 0


def _image_changed(platform: Platform, before: Before) -> bool:
    history = platform.rollout_history()
    return bool(history) and history[-1].image != before.image


def _bad_value(mode: str) -> Callable[[Platform, Before], bool]:
    arguments = fault_arguments(mode, "update_config")

    def shows(platform: Platform, before: Before) -> bool:
        return platform.config().get(arguments["key"]) == arguments["value"]

    return shows


def _selector_broken(mode: str) -> Callable[[Platform, Before], bool]:
    arguments = fault_arguments(mode, "break_service_selector")

    def shows(platform: Platform, before: Before) -> bool:
        return platform.api_service_selector().get(arguments["label"]) == arguments["value"]

    return shows


@dataclass(frozen=True)
class Mode:
    """One failure mode: the fault's text in the ledger, and how the platform shows it."""

    name: str
    fault_prefix: str
    shows: Callable[[Platform, Before], bool]


# per fault function of chaos/faults.py: the start of its text in the ledger, and how the platform
# shows it (a mode whose fault is not here, a database crashed on repeat, has no SIGKILL case)
_FAULTS: dict[str, tuple[str, Callable[[str], Callable[[Platform, Before], bool]]]] = {
    "memory_assault": ("memory assault", lambda _: _oom_killed),
    "kill_database": ("database killed", lambda _: _database_down),
    "set_image": ("set image", lambda _: _image_changed),
    "update_config": ("config ", _bad_value),
    "break_service_selector": ("service selector", _selector_broken),
}


def _fault_of(name: str) -> str | None:
    document = json.loads((EXPERIMENTS / f"{name}.json").read_text(encoding="utf-8"))
    return next((a["provider"]["func"] for a in document["method"] if a["provider"]["func"] in _FAULTS), None)


def sigkill_modes(platform: str) -> list[str]:
    """The matrix on ``platform``: every mode (gameday.modes) that runs there, whose fault has a
    SIGKILL case and that the platform does not heal by itself before anything could be restored."""
    return [
        m.name
        for m in load_modes(EXPERIMENTS)
        if m.runs_on(platform) and platform not in m.self_heals_on and _fault_of(m.name) is not None
    ]


def mode(name: str) -> Mode:
    """The matrix's case for a mode, by its experiment's fault (the prefixes are chaos/faults.py's texts)."""
    fault = _fault_of(name)
    if fault is None:
        raise AssertionError(f"no SIGKILL case for {name}")
    prefix, shows = _FAULTS[fault]
    return Mode(name, prefix, shows(name))


@dataclass
class Writer:
    """The test's own background writer: posts an activity every 0.1 s, keeps every acknowledged id."""

    target: Target
    max_seconds: float = 1800.0
    acked: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Writer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        with ApiProbe(self.target, timeout=3.0) as api:
            while not self._stop.is_set() and time.monotonic() < end:
                payload = {
                    "source": "sigkill-matrix",
                    "quantity": 1.0,
                    "unit": "kWh",
                    "occurred_at": datetime.now(UTC).isoformat(),
                }
                try:
                    answer = api.post_activity(payload)
                    body = answer.json()
                    if answer.status == 201 and isinstance(body, dict) and isinstance(body.get("id"), int):
                        self.acked.append(int(body["id"]))
                except ProbeError:
                    pass
                self._stop.wait(0.1)


def missing_writes(target: Target, acked: list[int]) -> list[int]:
    """The acknowledged ids that do not read back (``GET /v1/activities/{id}`` not 200)."""
    lost = []
    with ApiProbe(target, timeout=5.0) as api:
        for activity_id in acked:
            answer = api.get(f"{target.base_url.rstrip('/')}/v1/activities/{activity_id}", authorized=True)
            if answer.status != 200:
                lost.append(activity_id)
    return lost


def _wait(what: str, condition: Callable[[], bool], timeout: float, running: RunningExperiment) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if running.process.poll() is not None:
            ended = running.process.returncode
            raise AssertionError(f"the experiment ended (exit {ended}) before {what}; see {running.log_path}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout:g} s; see {running.log_path}")
        time.sleep(0.2)


def cli(
    arguments: list[str], environment: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """``offgridflow-runbook ...`` as a user runs it (the console script), from the project's root."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("offgridflow-runbook")), *arguments],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def kill_during_the_fault_then_restore(
    mode_name: str, target: Target, environment: dict[str, str], runs: Path
) -> None:
    """The whole case (see the module's docstring); AssertionError naming what went wrong."""
    case = mode(mode_name)
    ledger = Ledger(environment["OFFGRIDFLOW_LEDGER_DIR"])
    assert ledger.read(target.name) == ([], []), "precondition: nothing open in this test's ledger"
    first = verify_within(target, None, PRECONDITION_S)
    assert first.passed, f"precondition: Verification 1-5 must pass first: {first.summary()}"

    def entry() -> Entry | None:
        found = [e for e in ledger.entries(target.name) if e.fault.startswith(case.fault_prefix)]
        return found[-1] if found else None

    restore = ["restore", "--target", target.name, "--targets-file", str(TARGETS_FILE)]
    platform = platform_for(target)
    try:
        history = platform.rollout_history()
        before = Before(_restarts(platform), history[-1].image if history else "")
        with Writer(target) as writer:
            running = start_experiment(
                EXPERIMENTS / f"{case.name}.json",
                target=target,  # resolved here: the chaos process checks its fingerprint
                gameday_dir=runs,
                extra_env=environment,
            )
            try:
                _wait(
                    "fault_at",
                    lambda: running.events.first(EventKind.FAULT_AT) is not None,
                    BEFORE_S,
                    running,
                )
                _wait("the fault's ledger entry", lambda: entry() is not None, ENTRY_S, running)
                _wait(
                    "the fault on the platform", lambda: case.shows(platform, before), FAULT_SHOWS_S, running
                )
            finally:
                if running.process.poll() is None:
                    running.process.send_signal(signal.SIGKILL)
                running.process.wait(30)
            assert running.process.returncode == -signal.SIGKILL, "the chaos process was not the one killed"
            assert running.events.first(EventKind.FIX_STARTED_AT) is None, (
                "killed too late: the experiment had started its fix; the case proves nothing"
            )
            open_entry = entry()
            assert open_entry is not None
            # the experiment's own writer's acknowledged ids (restore deletes them with the entry)
            experiment_acked = [
                activity_id
                for e in ledger.entries(target.name)
                if any(step.action is UndoAction.CHECK_WRITES for step in e.undo)
                for activity_id in Ledger.acked_ids(e)
            ]
            listed = cli([*restore, "--list"], environment, 60)
            assert listed.returncode == 0, listed.stderr
            assert open_entry.id in listed.stdout
            restored = cli(restore, environment, RESTORE_S)
            assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-2000:]
            assert f"target '{target.name}': restored; Verification 1-5 pass" in restored.stdout
            assert ledger.read(target.name) == ([], []), "restore left an entry open"
            again = verify_within(target, None, 30)
            assert again.passed, again.summary()
            time.sleep(1.0)  # a few more writes after the restore, then stop
        assert writer.acked, "the test's writer got no write acknowledged at all"
        lost = missing_writes(target, writer.acked + experiment_acked)
        assert lost == [], f"{len(lost)} acknowledged writes lost: {lost[:20]}"
    except BaseException as failure:
        # A case that failed with its fault still in the ledger must not leave the fault behind for
        # the tests after it (a database left down fails all of them): restore it, and say so.
        if ledger.entries(target.name):
            rescue = cli(restore, environment, RESTORE_S)
            failure.add_note(
                f"the case failed with a ledger entry open; restore after it exited {rescue.returncode}: "
                f"{(rescue.stdout + rescue.stderr).strip()[-1500:]}"
            )
        raise
    finally:
        platform.close()
