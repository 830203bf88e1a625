"""Fixtures for the chaos extension's unit tests: the real targets file, a recording platform in
place of the drivers, and a per-test event-log directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers.chaos_fakes import RecordingPlatform
from offgridflow_runbook.chaos import _context
from offgridflow_runbook.platforms import PlatformError

TARGETS_FILE = Path(__file__).parents[2] / "targets.yaml"


@pytest.fixture(autouse=True)
def no_real_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests never reach a real engine or cluster: without ``fake_platform`` the guard's identity
    read (and any other platform use) fails instead of asking this machine's Docker."""

    def platform_for(target: Any) -> Any:
        raise PlatformError(f"tests/chaos: no real platform for target {target.name!r} in unit tests")

    monkeypatch.setattr(_context, "platform_for", platform_for)


@pytest.fixture
def fake_platform(monkeypatch: pytest.MonkeyPatch) -> RecordingPlatform:
    platform = RecordingPlatform()
    opened: list[str] = []

    def platform_for(target: Any) -> RecordingPlatform:
        opened.append(target.name)
        return platform

    monkeypatch.setattr(_context, "platform_for", platform_for)
    platform.opened_for = opened  # type: ignore[attr-defined]
    return platform


@pytest.fixture
def configuration(tmp_path: Path) -> dict[str, str]:
    # no verdict watch: it would diagnose the real local target in the background
    return {
        "targets_file": str(TARGETS_FILE),
        "gameday_dir": str(tmp_path),
        "mode": "unit",
        "watch_verdicts": "false",
    }
