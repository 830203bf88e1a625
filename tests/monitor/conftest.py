"""The monitor's tests look at the fake of helpers.monitor_fakes: a target on 127.0.0.1 only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.monitor_fakes import TOKEN, TOKEN_ENV, Recorder, fake_target, write_targets
from offgridflow_runbook.targets import Target, load_target


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def fake_url(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with fake_target(recorder) as url:
        yield url


@pytest.fixture
def targets_file(fake_url: str, tmp_path: Path) -> Path:
    return write_targets(tmp_path / "targets.yaml", fake_url)


@pytest.fixture
def target(targets_file: Path) -> Target:
    return load_target("fake", targets_file)
