"""The text exposition: blackbox-style gauges per runbook step, valid for Prometheus."""

from __future__ import annotations

import re
import subprocess

from helpers.deploy_files import require_tool
from offgridflow_runbook.monitor.checks import RunResult, StepVerdict
from offgridflow_runbook.monitor.metrics import METRICS, MonitorState, escape_label

STEPS = (
    StepVerdict("Triage 1", True, False, 0.012, "fine"),
    StepVerdict("Verification 1", True, True, 0.0, "skipped: no platform"),
    StepVerdict("Verification 3", False, False, 0.25, "GET answered HTTP 500"),
)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the one sample of ``name`` with exactly ``labels``."""
    inside = ",".join(f'{key}="{value}"' for key, value in labels.items())
    values = re.findall(rf"^{re.escape(name)}\{{{re.escape(inside)}\}} (\S+)$", text, flags=re.MULTILINE)
    assert len(values) == 1, (name, labels, text)
    return float(values[0])


def state_after_one_run() -> MonitorState:
    state = MonitorState("local", 60)
    state.record(RunResult("local", 1_765_000_000.5, 0.31, STEPS))
    return state


def test_each_step_has_success_skipped_and_duration_with_target_and_step_labels() -> None:
    text = state_after_one_run().render()
    labels = {"target": "local"}
    assert sample(text, "offgridflow_synthetic_step_success", **labels, step="Triage 1") == 1
    assert sample(text, "offgridflow_synthetic_step_success", **labels, step="Verification 3") == 0
    assert sample(text, "offgridflow_synthetic_step_success", **labels, step="Verification 1") == 1
    assert sample(text, "offgridflow_synthetic_step_skipped", **labels, step="Verification 1") == 1
    assert (
        sample(text, "offgridflow_synthetic_step_duration_seconds", **labels, step="Verification 3") == 0.25
    )
    assert sample(text, "offgridflow_synthetic_run_success", **labels) == 0
    assert sample(text, "offgridflow_synthetic_run_duration_seconds", **labels) == 0.31
    assert sample(text, "offgridflow_synthetic_last_run_timestamp_seconds", **labels) == 1_765_000_000.5
    assert sample(text, "offgridflow_synthetic_runs_total", **labels, result="failure") == 1
    assert sample(text, "offgridflow_synthetic_runs_total", **labels, result="success") == 0
    assert sample(text, "offgridflow_synthetic_runs_delayed_total", **labels) == 0
    assert sample(text, "offgridflow_synthetic_interval_seconds", **labels) == 60


def test_every_family_has_help_and_type_once() -> None:
    text = state_after_one_run().render()
    for name, metric in METRICS.items():
        full = f"offgridflow_synthetic_{name}"
        assert text.count(f"# TYPE {full} {metric.kind}\n") == 1, full
        assert text.count(f"# HELP {full} ") == 1, full


def test_before_the_first_run_only_the_schedule_is_exposed() -> None:
    text = MonitorState("local", 60).render()
    assert "offgridflow_synthetic_run_success" not in text
    assert "offgridflow_synthetic_step_success" not in text
    assert sample(text, "offgridflow_synthetic_runs_total", target="local", result="success") == 0


def test_label_values_are_escaped() -> None:
    assert escape_label('a "b" \\ c\nd') == 'a \\"b\\" \\\\ c\\nd'
    state = MonitorState('odd "name"\n', 30)
    assert 'target="odd \\"name\\"\\n"' in state.render()


def test_memory_stays_bounded_however_many_runs() -> None:
    state = state_after_one_run()
    first = len(state.render())
    for run in range(500):
        state.record(RunResult("local", 1_765_000_000.5 + run, 0.31, STEPS))
    # only the counters' digits grow: the last run replaces the one before
    assert len(state.render()) <= first + 10


def test_promtool_accepts_the_exposition() -> None:
    promtool = require_tool("promtool", "it validates the metrics text (promtool check metrics)")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=state_after_one_run().render(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
