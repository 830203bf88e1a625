"""``offgridflow-runbook coverage``: which check, triage rule or experiment proves each runbook step.

Exit 0 when every step and command maps to an entry and coverage is at least ``--min-coverage``;
1 below the bar or on drift between the runbook and the suite (a step nothing maps to, or an entry
that matches nothing in the runbook any more). Beside it, per step, when and where a passing game day
last proved it (``offgridflow_runbook.proofs``); ``--max-proof-age 90d`` makes a stale or missing
proof exit 1 too.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from offgridflow_runbook.cli.options import UsageError, add_runbook_option, number_in
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
    parser.add_argument(
        "--max-proof-age",
        type=_age,
        default=None,
        metavar="AGE",
        help="fail when a step's last game-day proof is older than AGE (90d, 12w) or missing; without it "
        "proofs older than a quarter are marked stale",
    )
    parser.set_defaults(run=run)


def _age(text: str) -> float:
    from offgridflow_runbook.proofs import parse_age

    try:
        return parse_age(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run(args: argparse.Namespace) -> int:
    # imported here: every command builds this parser, and the parser and coverage load in ~25 ms
    from offgridflow_runbook.coverage import runbook_coverage
    from offgridflow_runbook.gameday.modes import ModeError, load_modes
    from offgridflow_runbook.proofs import QUARTER, proof_table, read_proofs, step_proofs, steps_proven_by
    from offgridflow_runbook.runbook.document import load_runbook

    runbook = load_runbook(args.runbook)
    report = runbook_coverage(args.runbook)
    below = report.percent < args.min_coverage
    # the steps a passing game day of some mode proves (a step no mode exercises is not listed)
    try:
        modes = load_modes()
    except ModeError as error:  # a broken experiment file: a bad input, like a broken runbook
        raise UsageError(str(error)) from None
    provable = {step for mode in modes for step in steps_proven_by(runbook, mode.fix)}
    proven = step_proofs(
        runbook,
        read_proofs(),
        provable,
        max_age_s=QUARTER if args.max_proof_age is None else args.max_proof_age,
    )
    stale = args.max_proof_age is not None and any(row.stale for row in proven)
    if args.json:
        document = {**report.as_dict(), "min_coverage": args.min_coverage}
        print(json.dumps({**document, "proofs": [row.as_dict() for row in proven]}, indent=2))
    else:
        print(printable(report.table()))  # the runbook's text: shown, never obeyed by the terminal
        for line in report.drift:
            print(f"drift: {printable(line, newlines=False)}")
        print("last proven by a game day (a proof older than a quarter is stale):")
        print(printable(proof_table(proven)))
        if stale:
            print("a step's proof is stale or missing (--max-proof-age)")
        print(report.summary())
        if below:
            print(f"below the required {args.min_coverage:g}%")
    return EXIT_BELOW if below or report.drift or stale else 0
