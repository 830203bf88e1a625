"""``offgridflow-runbook drift``: run the runbook's read-only commands against a target.

Exit 0 every applicable command answered with the expected shape; 1 drift (a name, selector, path
or shape the system no longer has); 3 nothing drifted but some commands could not be run or seen.
Only lines of the read-only allowlist (:mod:`offgridflow_runbook.runbook.allowlist`) run; every other
line is reported ``not run: not read-only: <reason>`` and does not count as drift.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from offgridflow_runbook.cli.options import (
    add_runbook_option,
    add_target_options,
    non_empty_text,
    number_in,
    target_from,
)
from offgridflow_runbook.reporting import Redactor, printable
from offgridflow_runbook.runbook.location import KUBECTL_ENV

# a read-only command that has not answered in ten minutes is not going to
MAX_TIMEOUT_S = 600.0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "drift",
        help="run the runbook's read-only commands against a target and report what no longer matches",
        description="Run each read-only command of the runbook against the target (curl GET against its "
        "URLs; kubectl get/describe/logs/top/wait/rollout status|history with its namespace and context "
        "on Kubernetes targets) and check the expected shape. A line that is not one of these exact "
        "read-only shapes is reported 'not run' with the reason, never executed. "
        "Exit 0 no drift, 1 drift, 3 some commands could not be run.",
    )
    add_target_options(parser)
    add_runbook_option(parser)
    parser.add_argument(
        "--kubectl",
        type=non_empty_text,
        default=None,
        help=f"the kubectl binary (default: ${KUBECTL_ENV} or PATH)",
    )
    parser.add_argument(
        "--timeout",
        type=number_in(1, MAX_TIMEOUT_S, "seconds"),
        default=15.0,
        help=f"seconds each command may take, up to {MAX_TIMEOUT_S:.0f} (default: 15)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # imported here: every command builds this parser, and the parser and drift load in ~20 ms
    from offgridflow_runbook.runbook.document import load_runbook
    from offgridflow_runbook.runbook.drift import drift

    target = target_from(args)
    report = drift(load_runbook(args.runbook), target, kubectl=args.kubectl, timeout=args.timeout)
    redact = Redactor([target.token])
    if args.json:
        print(json.dumps(redact.value(report.as_dict()), indent=2))
    else:
        # the table holds what the target answered: its control characters are shown, not obeyed
        print(printable(redact(report.table())))
    return report.exit_code
