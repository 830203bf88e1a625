"""One run: the runbook's read-only steps over one look, per runbook step."""

from __future__ import annotations

from helpers.monitor_fakes import Recorder
from offgridflow_runbook.monitor.checks import monitor_reads, run_checks
from offgridflow_runbook.probes.snapshot import HISTORY_READS
from offgridflow_runbook.runbook.document import load_runbook
from offgridflow_runbook.targets import Target


def runbook_read_only_steps() -> list[str]:
    """Triage 1 and every Verification step, as the runbook document lists them."""
    runbook = load_runbook()
    return [step.id for step in runbook.steps if step.id == "Triage 1" or step.kind == "verification"]


def test_the_monitor_reports_every_read_only_step_of_the_runbook_in_its_order(target: Target) -> None:
    result = run_checks(target)
    assert [step.step for step in result.steps] == runbook_read_only_steps()


def test_a_healthy_target_passes_every_step(target: Target) -> None:
    result = run_checks(target)
    assert result.success, result.reason
    by_step = {step.step: step for step in result.steps}
    # platform "none": the pod steps are skipped with the reason, never counted as failures
    assert by_step["Verification 1"].skipped
    assert not by_step["Verification 3"].skipped
    assert all(step.duration_s >= 0 for step in result.steps)
    assert by_step["Verification 3"].duration_s > 0  # the read the step looked at, timed


def test_a_failing_judgement_fails_its_runbook_step_only(target: Target, recorder: Recorder) -> None:
    recorder.activities_status = 500
    result = run_checks(target)
    failed = [step.step for step in result.steps if not step.success]
    assert failed == ["Verification 3"]
    assert "HTTP 500" in result.reason
    assert not result.success


def test_a_look_that_raises_fails_every_step_with_the_error(target: Target) -> None:
    def broken(_: Target) -> object:
        raise RuntimeError("the look itself broke")

    result = run_checks(target, broken)  # type: ignore[arg-type]
    assert [step.step for step in result.steps] == runbook_read_only_steps()
    assert not any(step.success for step in result.steps)
    assert "the look itself broke" in result.reason


def test_the_monitor_reads_only_what_its_steps_judge() -> None:
    reads = monitor_reads()
    assert {"live", "ready", "activities", "metrics", "error_rate", "alerts", "api_workloads"} == reads
    # no exec (pg_isready), no resource usage, no network, no logs or events: Triage 2's reads
    assert not reads & {"pg_isready", "usage", "network", "database_workloads", *HISTORY_READS}


def test_no_step_misses_a_read_the_monitors_look_left_out(target: Target) -> None:
    result = run_checks(target)
    assert result.success, result.reason
    assert not [step for step in result.steps if "not read" in step.message]
