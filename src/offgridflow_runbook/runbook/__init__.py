"""The runbook judges. Its document as a model (:mod:`.document`); its steps as named predicates over
one look at a target (:mod:`.steps`, evidence in :mod:`.evidence`); Triage's decision
(:mod:`.triage`) and Verification (:mod:`.verification`); its command lines for a target
(:mod:`.commands`); what in the suite proves each step (:mod:`.coverage`); and whether a target still
matches its read-only commands (:mod:`.drift`)."""

from offgridflow_runbook.runbook.document import (
    Command,
    Runbook,
    RunbookError,
    Step,
    load_runbook,
    parse_runbook,
)

__all__ = ["Command", "Runbook", "RunbookError", "Step", "load_runbook", "parse_runbook"]
