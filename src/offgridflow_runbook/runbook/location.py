"""Where the runbook's commands find what they read: the runbook (``$OFFGRIDFLOW_RUNBOOK``, else the
project's), the kubectl binary (``$KUBECTL``), and the error for a runbook that cannot be read.

Apart from the parser (:mod:`.document`) so that the command line can name them in its help and
catch the error without loading the parser: ``diagnose`` on a healthy target never reads the runbook.
"""

from __future__ import annotations

import os
from pathlib import Path

from offgridflow_runbook.project import project_root

__all__ = [
    "KUBECTL_ENV",
    "RUNBOOK_ENV",
    "RUNBOOK_IN_PROJECT",
    "RunbookError",
    "default_runbook",
    "runbook_path",
]

RUNBOOK_ENV = "OFFGRIDFLOW_RUNBOOK"
RUNBOOK_IN_PROJECT = Path("docs") / "runbooks" / "offgridflow-api-down.md"  # from the repository root
KUBECTL_ENV = "KUBECTL"


def default_runbook() -> Path:
    """The project's runbook (under :func:`offgridflow_runbook.project.project_root`)."""
    return project_root() / RUNBOOK_IN_PROJECT


def runbook_path(path: Path | str | None = None) -> Path:
    """``path``, else ``$OFFGRIDFLOW_RUNBOOK``, else the project's runbook: the one runbook path."""
    return Path(path or os.environ.get(RUNBOOK_ENV) or default_runbook())


class RunbookError(Exception):
    """The runbook cannot be read; the message names the file and line."""
