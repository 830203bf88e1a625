"""``offgridflow-runbook restore``: undo the faults the ledger says are still in place on a target.

Exit 0 restored (Verification 1-5 pass) or nothing open; 1 something could not be restored (one
line per entry with the reason). ``--list`` shows the open entries and changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from offgridflow_runbook.cli.options import add_target_options, number_in, target_from

EXIT_NOT_RESTORED = 1


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "restore",
        help="undo the faults the fault ledger says are still in place on a target, then verify",
        description="Undo every open fault ledger entry of the target (newest first) through its platform, "
        "wait for the rollout and for Verification 1-5, and clear each entry only when its undo worked and "
        "Verification passed. Exit 0 restored or nothing open, 1 could not restore.",
    )
    add_target_options(parser)
    parser.add_argument(
        "--list",
        "--dry-run",
        dest="list_only",
        action="store_true",
        help="show the open entries and what each would undo; change nothing",
    )
    parser.add_argument(
        "--deadline",
        type=number_in(1, 86400, "seconds"),
        default=None,
        help="seconds to wait for Verification 1-5 after the undo (default: 600)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # imported here: every command builds this parser
    from offgridflow_runbook.ledger import Ledger
    from offgridflow_runbook.restore import VERIFY_DEADLINE_S, restore

    target = target_from(args)
    ledger = Ledger()
    if args.list_only:
        entries, unreadable = ledger.read(target.name)
        for entry in entries:
            steps = "; ".join(step.describe() for step in entry.undo)
            print(f"{entry.summary()}: would undo: {steps} (file {entry.path})")
        for bad in unreadable:
            print(f"{bad.path}: unreadable ledger file: {bad.reason}")
        if not entries and not unreadable:
            print(f"target {target.name!r}: nothing open in the fault ledger ({ledger.directory})")
        return EXIT_NOT_RESTORED if unreadable else 0
    report = restore(
        target,
        ledger=ledger,
        verify_deadline=VERIFY_DEADLINE_S if args.deadline is None else args.deadline,
        say=lambda line: print(line, file=sys.stderr),
    )
    for line in report.lines():
        print(line)
    return report.exit_code
