"""``look(..., only=...)``: the reads not named are not made, and say so."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.monitor_fakes import TOKEN, TOKEN_ENV, Recorder, fake_target, write_targets
from offgridflow_runbook.probes.snapshot import look
from offgridflow_runbook.targets import load_target


def test_only_the_named_reads_are_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    recorder = Recorder()
    with fake_target(recorder) as url:
        target = load_target("fake", write_targets(tmp_path / "targets.yaml", url))
        observations = look(target, only={"live", "metrics"})
    assert observations.live.ok
    assert observations.metrics.ok
    assert observations.ready.skipped == observations.alerts.skipped == "not read (the checks do not need it)"
    assert {path for _, path in recorder.requests} == {"/health/live", "/metrics"}


def test_nothing_named_reads_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder()
    with fake_target(recorder) as url:
        target = load_target("fake", write_targets(tmp_path / "targets.yaml", url))
        observations = look(target, only=())
    assert not observations.live.ok
    assert recorder.requests == []
