"""The ``runbook_copy`` fixture: a parsed copy of the project's runbook with one edit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.runbook_copies import edited
from offgridflow_runbook.runbook import Runbook, parse_runbook


@pytest.fixture
def runbook_copy(tmp_path: Path) -> Callable[[str, str], Runbook]:
    """A parsed copy of the runbook with one edit, written to ``tmp_path/runbook.md``."""

    def make(old: str, new: str) -> Runbook:
        path = tmp_path / "runbook.md"
        path.write_text(edited(old, new), encoding="utf-8")
        return parse_runbook(path.read_text(encoding="utf-8"), path)

    return make
