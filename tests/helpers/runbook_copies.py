"""The project's runbook text, and copies of it with one edit."""

from __future__ import annotations

from offgridflow_runbook.runbook.location import default_runbook

RUNBOOK_TEXT = default_runbook().read_text(encoding="utf-8")


def edited(old: str, new: str) -> str:
    """The runbook's text with ``old`` (which must be there exactly once) replaced by ``new``."""
    assert RUNBOOK_TEXT.count(old) == 1, f"the runbook no longer contains {old!r} once"
    return RUNBOOK_TEXT.replace(old, new)
