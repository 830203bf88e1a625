"""The look's deadline: a read that never ends (a websocket handshake the server never answers, a
library call without a timeout) is reported as no answer at the deadline, the other reads are kept,
the judges see it as unknown (never as an answer), and the process can still end."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers.triage_fakes import FakeHttp, FakePlatform, make_target, rules_file
from offgridflow_runbook.platforms import CommandResult
from offgridflow_runbook.probes.http import ApiProbe
from offgridflow_runbook.probes.prometheus import PrometheusProbe
from offgridflow_runbook.probes.snapshot import NoAnswerInTime, Observations, observe
from offgridflow_runbook.runbook.steps import Outcome, triage_2b_database
from offgridflow_runbook.runbook.triage import decide

ROOT = Path(__file__).resolve().parents[2]


class HangingExec(FakePlatform):
    """pg_isready blocks until ``release`` is set, as an exec whose upgrade is never answered."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def pg_isready(self) -> CommandResult:
        self.release.wait(timeout=60)  # bounded, so the test's own thread ends whatever happens
        return super().pg_isready()


@pytest.fixture
def hanging() -> Iterator[HangingExec]:
    platform = HangingExec()
    yield platform
    platform.release.set()


def observe_with(platform: FakePlatform, tmp_path: Path, deadline: float) -> Observations:
    target = make_target()
    transport = httpx.MockTransport(FakeHttp().handler)
    prometheus = PrometheusProbe(target.prometheus_url or "", transport=transport)
    with ApiProbe(target, transport=transport) as api:
        return observe(
            target,
            api=api,
            platform=platform,
            prometheus=prometheus,
            rules_file=rules_file(tmp_path),
            history=True,
            deadline=deadline,
        )


def test_a_read_that_never_ends_is_no_answer_at_the_deadline_and_the_others_are_kept(hanging, tmp_path):
    started = time.monotonic()
    observations = observe_with(hanging, tmp_path, deadline=0.5)
    took = time.monotonic() - started
    assert 0.5 <= took < 5, took
    assert isinstance(observations.pg_isready.error, NoAnswerInTime)
    assert observations.pg_isready.problem == (
        "pg_isready: no answer within the look's 0.5 s (left running, not used)"
    )
    assert observations.live.ok
    assert observations.api_workloads.ok
    assert observations.usage.ok


def test_a_read_with_no_answer_in_time_is_a_failed_step_and_unknown_to_triage_never_fine(hanging, tmp_path):
    observations = observe_with(hanging, tmp_path, deadline=0.3)
    step = triage_2b_database(observations)
    assert step.outcome is Outcome.FAILED
    assert "no answer within the look's 0.3 s" in step.message
    diagnosis = decide(observations)
    assert any("no answer within" in f"{r.source}: {r.detail}" for r in diagnosis.unknowns), (
        diagnosis.unknowns
    )


def test_reads_that_all_end_before_the_deadline_are_not_held_to_it(tmp_path):
    started = time.monotonic()
    observations = observe_with(FakePlatform(), tmp_path, deadline=30)
    assert time.monotonic() - started < 5
    assert observations.pg_isready.ok


def test_a_process_whose_look_left_a_read_running_still_ends(tmp_path):
    # an executor's worker threads are joined when the interpreter exits: a read stuck for good in
    # one of them would hold a scheduled check run for ever after printing its results
    script = textwrap.dedent(
        """
        import threading
        from helpers.triage_fakes import FakeHttp, FakePlatform, make_target
        import httpx
        from offgridflow_runbook.probes.http import ApiProbe
        from offgridflow_runbook.probes.snapshot import observe

        class Stuck(FakePlatform):
            def pg_isready(self):
                threading.Event().wait()  # for ever

        target = make_target(prometheus_url=None)
        with ApiProbe(target, transport=httpx.MockTransport(FakeHttp().handler)) as api:
            observed = observe(target, api=api, platform=Stuck(), deadline=0.3)
        print(observed.pg_isready.problem)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT / "tests",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pg_isready: no answer within the look's 0.3 s (left running, not used)"
