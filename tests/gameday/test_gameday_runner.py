"""The runner's two promises: a halt that cannot be lost (the deadline's SIGINT reaches `chaos run`
even from a parent that ignores SIGINT) and one target per game day (the resolved target and its
fingerprint reach the child)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from offgridflow_runbook.gameday.events import EventLog
from offgridflow_runbook.gameday.runner import RunningExperiment, start_experiment
from offgridflow_runbook.targets import Target, TargetError, read_resolved_target

SRC = Path(__file__).parents[2] / "src"
# bounded: the method holds at most this long; an interrupt that is lost lets it run to the end
HOLD_S = 20

ACTIVITIES = '''
"""Activities of the tiny experiment: hold (the method), mark (the rollback)."""
import json
import os
import time
from pathlib import Path


def hold(started: str, seconds: float) -> None:
    # what the child was given: the resolved target and its fingerprint
    handed = {key: value for key, value in os.environ.items() if key.startswith("OFFGRIDFLOW_")}
    Path(started + ".part").write_text(json.dumps(handed))
    os.replace(started + ".part", started)  # whole or not at all, for the test that waits for it
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.1)


def mark(path: str) -> None:
    Path(path).write_text("rolled back")
'''


def _tiny_experiment(folder: Path) -> Path:
    (folder / "tiny_activities.py").write_text(ACTIVITIES)

    def activity(name: str, func: str, arguments: dict[str, object]) -> dict[str, object]:
        provider = {"type": "python", "module": "tiny_activities", "func": func, "arguments": arguments}
        return {"type": "action", "name": name, "provider": provider}

    document = {
        "version": "1.0.0",
        "title": "tiny",
        "description": "holds, and marks its rollback",
        "configuration": {"mode": "tiny"},
        "method": [activity("hold", "hold", {"started": str(folder / "started"), "seconds": HOLD_S})],
        "rollbacks": [activity("mark", "mark", {"path": str(folder / "rolled-back")})],
    }
    path = folder / "tiny.json"
    path.write_text(json.dumps(document))
    return path


def _target() -> Target:
    return Target(name="tiny", platform="none", base_url="http://127.0.0.1:9")


def test_the_deadline_halt_runs_the_rollbacks_from_a_parent_that_ignores_sigint(tmp_path: Path) -> None:
    _tiny_experiment(tmp_path)
    # the parent: SIGINT ignored (as under nohup or `&` in a script), then the runner's deadline halt
    parent = textwrap.dedent(
        f"""
        import json, signal, sys, time
        from pathlib import Path
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from offgridflow_runbook.gameday.runner import start_experiment
        from offgridflow_runbook.targets import Target
        folder = Path({str(tmp_path)!r})
        running = start_experiment(
            folder / "tiny.json",
            target=Target(name="tiny", platform="none", base_url="http://127.0.0.1:9"),
            gameday_dir=folder / "runs",
        )
        end = time.monotonic() + 60
        while not (folder / "started").exists() and running.process.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        code = running.wait(0.5, interrupt_grace=60)
        print(json.dumps({{"code": code, "journal": running.journal()}}))
        """
    )
    environment = dict(os.environ) | {"PYTHONPATH": os.pathsep.join([str(SRC), str(tmp_path)])}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", parent],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    output = (tmp_path / "runs" / "tiny" / "chaos-output.txt").read_text()
    assert (tmp_path / "started").exists(), output[-2000:]
    assert outcome["journal"] is not None, output[-2000:]
    assert outcome["journal"]["status"] == "interrupted", output[-2000:]
    assert (tmp_path / "rolled-back").read_text() == "rolled back"
    assert [run["activity"]["name"] for run in outcome["journal"]["rollbacks"]] == ["mark"]
    assert time.monotonic() - started < HOLD_S, "the method was not interrupted: it ran to its end"


def test_a_child_that_ignores_the_interrupt_is_terminated_then_killed(tmp_path: Path) -> None:
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(30)",
        ]
    )
    running = RunningExperiment(
        "stubborn",
        tmp_path / "x.json",
        tmp_path / "j.json",
        tmp_path / "l",
        EventLog(tmp_path, "s"),
        stubborn,
    )
    started = time.monotonic()
    code = running.wait(0.2, interrupt_grace=0.5)
    assert code == -signal.SIGTERM
    assert time.monotonic() - started < 10


def test_the_child_gets_the_resolved_target_and_its_fingerprint(tmp_path: Path) -> None:
    experiment = _tiny_experiment(tmp_path)
    target = _target().with_overrides(namespace="elsewhere", kube_context="ctx")
    running = start_experiment(
        experiment,
        target=target,
        gameday_dir=tmp_path / "runs",
        extra_env={"PYTHONPATH": os.pathsep.join([str(SRC), str(tmp_path)])},
    )
    try:
        end = time.monotonic() + 60
        while (
            not (tmp_path / "started").exists() and running.process.poll() is None and time.monotonic() < end
        ):
            time.sleep(0.1)
        environment = json.loads((tmp_path / "started").read_text())
    finally:
        running.interrupt()
        running.wait(0.1, interrupt_grace=30)
    resolved = Path(environment["OFFGRIDFLOW_RESOLVED_TARGET"])
    assert resolved == tmp_path / "runs" / "tiny" / "target.json"
    assert read_resolved_target(resolved, environment["OFFGRIDFLOW_TARGET_FINGERPRINT"]) == target


def test_a_profile_name_is_resolved_in_the_parent(tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        json.dumps({"targets": {"tiny": {"platform": "none", "base_url": "http://127.0.0.1:9"}}})
    )
    with pytest.raises(TargetError, match="unknown target 'nowhere'"):
        start_experiment(
            _tiny_experiment(tmp_path), target="nowhere", gameday_dir=tmp_path, targets_file=targets
        )
