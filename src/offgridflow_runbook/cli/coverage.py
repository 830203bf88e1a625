"""``offgridflow-runbook coverage``: which check, triage rule or experiment proves each runbook step.

Exit 0 when every step and command maps to an entry and coverage is at least ``--min-coverage``;
1 below the bar or on drift between the runbook and the suite (a step nothing maps to, or an entry
that matches nothing in the runbook any more).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from offgridflow_runbook.cli.options import add_runbook_option, number_in
from offgridflow_runbook.reporting import printable

EXIT_BELOW = 1


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "coverage",
        help="map every runbook step and command to the check, triage rule or experiment that proves it",
        description="Print, per runbook step and command, what proves it (or why nothing does), and the "
        "percentage proved. Exit 1 below --min-coverage or when the runbook and the suite drifted apart.",
    )
    add_runbook_option(parser)
    parser.add_argument(
        "--min-coverage",
        type=number_in(0, 100, "a percentage"),
        default=0.0,
        metavar="N",
        help="fail below N percent (default: 0)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # imported here: every command builds this parser, and the parser and coverage load in ~25 ms
    from offgridflow_runbook.coverage import runbook_coverage

    report = runbook_coverage(args.runbook)
    below = report.percent < args.min_coverage
    if args.json:
        print(json.dumps({**report.as_dict(), "min_coverage": args.min_coverage}, indent=2))
    else:
        print(printable(report.table()))  # the runbook's text: shown, never obeyed by the terminal
        for line in report.drift:
            print(f"drift: {printable(line, newlines=False)}")
        print(report.summary())
        if below:
            print(f"below the required {args.min_coverage:g}%")
    return EXIT_BELOW if below or report.drift else 0
