"""Where the runbook's commands find what they read: the runbook (``$OFFGRIDFLOW_RUNBOOK``, else the
project's), the kubectl binary (``$KUBECTL``), and the error for a runbook that cannot be read.

Apart from the parser (:mod:`.document`) so that the command line can name them in its help and
catch the error without loading the parser: ``diagnose`` on a healthy target never reads the runbook.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_RUNBOOK", "KUBECTL_ENV", "PROJECT_ROOT", "RUNBOOK_ENV", "RunbookError"]

RUNBOOK_ENV = "OFFGRIDFLOW_RUNBOOK"
# src/offgridflow_runbook/runbook/location.py -> the repository root
PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_RUNBOOK = PROJECT_ROOT / "docs" / "runbooks" / "offgridflow-api-down.md"
KUBECTL_ENV = "KUBECTL"


class RunbookError(Exception):
    """The runbook cannot be read; the message names the file and line."""
