"""The runbook under test as a model (:mod:`.document`), what in the suite proves each of its steps
(:mod:`.coverage`), and whether a target still matches its read-only commands (:mod:`.drift`)."""

from offgridflow_runbook.runbook.document import (
    Command,
    Runbook,
    RunbookError,
    Step,
    load_runbook,
    parse_runbook,
)

__all__ = ["Command", "Runbook", "RunbookError", "Step", "load_runbook", "parse_runbook"]
