"""Copies of the project's runbook with one edit each, for the parser, coverage and drift tests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from offgridflow_runbook.runbook import Runbook, parse_runbook
from offgridflow_runbook.runbook.document import DEFAULT_RUNBOOK

sys.path.insert(0, str(Path(__file__).parent))

RUNBOOK_TEXT = DEFAULT_RUNBOOK.read_text(encoding="utf-8")


def edited(old: str, new: str) -> str:
    """The runbook's text with ``old`` (which must be there exactly once) replaced by ``new``."""
    assert RUNBOOK_TEXT.count(old) == 1, f"the runbook no longer contains {old!r} once"
    return RUNBOOK_TEXT.replace(old, new)


@pytest.fixture
def runbook_copy(tmp_path: Path) -> Callable[[str, str], Runbook]:
    """A parsed copy of the runbook with one edit, written to ``tmp_path/runbook.md``."""

    def make(old: str, new: str) -> Runbook:
        path = tmp_path / "runbook.md"
        path.write_text(edited(old, new), encoding="utf-8")
        return parse_runbook(path.read_text(encoding="utf-8"), path)

    return make
