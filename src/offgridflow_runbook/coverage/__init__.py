"""Which part of the suite proves each runbook step, and which steps nothing proves.

:data:`STEPS` and :data:`COMMANDS` are the map: per runbook step, and per command line of each
step (matched by its text, whitespace collapsed), the proofs — a check in ``checks/`` (by function
name and runbook step), a triage rule (a :class:`~offgridflow_runbook.runbook.triage.Cause`), an
experiment's fault, detection probe or fix (by mode and Chaos Toolkit function, with the arguments
the runbook's command implies), an alert rule — or a reason why it is not covered.
:func:`coverage` resolves every proof against the project (a check that was deleted, an experiment
that no longer calls the fix, proves nothing) and reports both ways:

- ``unmapped``: a step or command of the runbook that no entry matches (a step was added, a name
  changed): drift of the runbook away from the suite;
- ``stale``: an entry that matches nothing in the runbook (a command was removed or changed): the
  suite proves something the runbook no longer says.

It describes the suite, not the runbook: it reads ``checks/``, ``chaos/experiments/`` and
``deploy/``, and the Chaos Toolkit activities of :mod:`offgridflow_runbook.chaos`, so it sits above
``chaos`` and ``runbook`` (beside ``cli``): :mod:`.proofs` (what proves a step), :mod:`.rules` (the
map), :mod:`.report` (:func:`coverage` and its report). A project file that cannot be read is a
:class:`CoverageError` naming it.
"""

from __future__ import annotations

from offgridflow_runbook.coverage.proofs import (
    Alert,
    Check,
    CoverageError,
    Experiment,
    NotCovered,
    Project,
    Proof,
    Role,
    TriageRule,
)
from offgridflow_runbook.coverage.report import (
    CoverageItem,
    CoverageReport,
    ItemKind,
    Status,
    coverage,
    runbook_coverage,
)
from offgridflow_runbook.coverage.rules import COMMANDS, STEPS, CommandRule, StepRule

__all__ = [
    "COMMANDS",
    "STEPS",
    "Alert",
    "Check",
    "CommandRule",
    "CoverageError",
    "CoverageItem",
    "CoverageReport",
    "Experiment",
    "ItemKind",
    "NotCovered",
    "Project",
    "Proof",
    "Role",
    "Status",
    "StepRule",
    "TriageRule",
    "coverage",
    "runbook_coverage",
]
