"""The runbook judges. Its document as a model (:mod:`.document`); its steps as named predicates over
one look at a target (:mod:`.steps`, evidence in :mod:`.evidence`); Triage's decision
(:mod:`.triage`) and Verification (:mod:`.verification`); its command lines for a target
(:mod:`.commands`); what in the suite proves each step (:mod:`.coverage`); and whether a target still
matches its read-only commands (:mod:`.drift`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from offgridflow_runbook.runbook.location import RunbookError

if TYPE_CHECKING:
    from offgridflow_runbook.runbook.document import Command, Runbook, Step, load_runbook, parse_runbook

__all__ = ["Command", "Runbook", "RunbookError", "Step", "load_runbook", "parse_runbook"]

_FROM_DOCUMENT = frozenset(__all__) - {"RunbookError"}


def __getattr__(name: str) -> Any:
    # The parser loads on first use, not with the package: a healthy `diagnose` never reads the runbook.
    if name in _FROM_DOCUMENT:
        from offgridflow_runbook.runbook import document

        value = getattr(document, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
