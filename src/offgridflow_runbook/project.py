"""The one repository root: where the suite finds its project's files (``deploy/``, ``docs/``,
``chaos/experiments/``, ``checks/``, ``.state/``) whatever directory it is started from.

``$OFFGRIDFLOW_HOME``, else the source checkout this package runs from (when it holds
``deploy/docker``), else the working directory. A leaf: nothing else of the suite is imported, so
that ``ledger``, ``platforms``, ``runbook`` and ``gameday`` all ask here. Nothing is read at import:
:func:`project_root` looks when it is called.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_ENV", "SOURCE_ROOT", "project_root"]

HOME_ENV = "OFFGRIDFLOW_HOME"
# src/offgridflow_runbook/project.py -> the checkout this package runs from (when it runs from one)
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def project_root() -> Path:
    """``$OFFGRIDFLOW_HOME``, else the source checkout holding ``deploy/docker``, else the working
    directory (an installed package run from a checkout)."""
    if home := os.environ.get(HOME_ENV):
        return Path(home).resolve()
    for candidate in (SOURCE_ROOT, Path.cwd()):
        if (candidate / "deploy" / "docker").is_dir():
            return candidate
    return Path.cwd()
