"""The one repository root (offgridflow_runbook.project): $OFFGRIDFLOW_HOME, else the checkout the
package runs from, else the working directory; every path of the project hangs off it."""

from __future__ import annotations

from pathlib import Path

import pytest

from offgridflow_runbook.gameday.modes import experiments_dir
from offgridflow_runbook.ledger import ledger_dir
from offgridflow_runbook.platforms.docker.names import state_dir
from offgridflow_runbook.project import SOURCE_ROOT, project_root
from offgridflow_runbook.runbook.location import default_runbook, runbook_path


def test_the_source_checkout_is_the_root_when_nothing_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OFFGRIDFLOW_HOME", raising=False)
    assert project_root() == SOURCE_ROOT
    assert (SOURCE_ROOT / "deploy" / "docker").is_dir()


def test_offgridflow_home_moves_every_path_of_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OFFGRIDFLOW_LEDGER_DIR", "OFFGRIDFLOW_STATE_DIR", "OFFGRIDFLOW_RUNBOOK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OFFGRIDFLOW_HOME", str(tmp_path))
    assert project_root() == tmp_path.resolve()
    assert ledger_dir() == tmp_path.resolve() / ".state" / "ledger"
    assert state_dir() == tmp_path.resolve() / ".state"
    assert experiments_dir() == tmp_path.resolve() / "chaos" / "experiments"
    assert default_runbook() == tmp_path.resolve() / "docs" / "runbooks" / "offgridflow-api-down.md"


def test_the_runbook_variable_wins_over_the_project_and_an_argument_over_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFGRIDFLOW_RUNBOOK", str(tmp_path / "env.md"))
    assert runbook_path() == tmp_path / "env.md"
    assert runbook_path(tmp_path / "arg.md") == tmp_path / "arg.md"
