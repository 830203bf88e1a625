"""Options the subcommands share: the target's (``TARGET_OPTIONS``, as in pytest) and the runbook's,
and the checked numbers (a timeout that is NaN, infinite or negative is a usage error, not a hang)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from offgridflow_runbook.runbook.location import RUNBOOK_ENV, RUNBOOK_IN_PROJECT  # not the parser
from offgridflow_runbook.targets import TARGET_OPTIONS, Target, target_from_options

__all__ = ["UsageError", "add_runbook_option", "add_target_options", "number_in", "target_from"]


class UsageError(Exception):
    """A command-line mistake found after parsing (a file of the wrong kind); one line, exit 64."""


def add_target_options(parser: argparse.ArgumentParser) -> None:
    for option in TARGET_OPTIONS:
        parser.add_argument(option.flag, default=option.default, help=option.help)


def target_from(args: argparse.Namespace) -> Target:
    """The chosen target with the overrides applied; TargetError for a user mistake."""
    return target_from_options(lambda dest: getattr(args, dest))


def add_runbook_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runbook",
        type=Path,
        default=None,
        help=f"the runbook to read (default: ${RUNBOOK_ENV} or {RUNBOOK_IN_PROJECT.name} of the project)",
    )


def number_in(low: float, high: float, what: str) -> Callable[[str], float]:
    """An argparse type: a number from ``low`` to ``high`` (``nan`` and ``inf`` never are), else
    one line naming ``what`` and the range, and exit 64."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} {low:g}..{high:g}, not {text!r}")
        return value

    return parse
