"""The game day's verdict watch: ``diagnose`` from the fault to the fix, each changed verdict recorded."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from helpers.chaos_fakes import RecordingPlatform
from offgridflow_runbook.chaos import faults, fixes
from offgridflow_runbook.chaos._verdicts import VerdictWatch
from offgridflow_runbook.gameday.events import EventLog
from offgridflow_runbook.platforms import Termination, Workload
from offgridflow_runbook.targets import load_target

TARGETS_FILE = Path(__file__).parents[2] / "targets.yaml"
OOM_KILLED = Workload(
    "offgridflow-api",
    "offgridflow-api",
    "Running",
    True,
    1,
    "api:v1",
    last_termination=Termination("OOMKilled", 137),
)


def test_the_watch_records_each_verdict_that_changes_until_stopped(tmp_path: Path) -> None:
    # the API's port is closed: nothing on 127.0.0.1 is read but what the fake platform answers
    target = replace(load_target("local", TARGETS_FILE), base_url="http://127.0.0.1:9", metrics_url=None,
                     prometheus_url=None)  # fmt: skip
    platform = RecordingPlatform()
    log = EventLog(tmp_path, "oom")
    watch = VerdictWatch(target, log, interval=0.05, max_seconds=10, platform=platform)  # type: ignore[arg-type]
    watch.start()
    deadline = time.monotonic() + 10
    while not any(e.kind == "verdict" for e in log.read()) and time.monotonic() < deadline:
        time.sleep(0.05)
    platform.workloads = [OOM_KILLED]
    while len([e for e in log.read() if e.kind == "verdict"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    watch.stop()
    verdicts = [e.detail["sections"] for e in log.read() if e.kind == "verdict"]
    # the fake has no database pod either: Fix 1 comes first, as the runbook orders them
    assert verdicts[:2] == [["Triage 1", "Fix 1"], ["Fix 1", "Fix 2"]], verdicts


def test_a_fault_starts_a_watch_and_the_fix_stops_it(
    tmp_path: Path, fake_platform: RecordingPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    configuration = {"targets_file": str(TARGETS_FILE), "gameday_dir": str(tmp_path), "mode": "unit"}
    calls: list[str] = []
    # every fault starts the watch in its prologue (chaos._fault.FaultScene.mark)
    monkeypatch.setattr(
        "offgridflow_runbook.chaos._fault.start_watch",
        lambda target, config: calls.append(f"start {target.name}"),
    )
    monkeypatch.setattr(fixes, "stop_watch", lambda config: calls.append("stop"))
    faults.kill_database(target="local", configuration=configuration)
    fixes.fix_1_restart_database_then_api(target="local", configuration=configuration)
    assert calls == ["start local", "stop"]
