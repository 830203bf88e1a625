"""Options the subcommands share: the target's (``TARGET_OPTIONS``, as in pytest) and the runbook's."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from offgridflow_runbook.runbook.location import DEFAULT_RUNBOOK, RUNBOOK_ENV  # not the parser
from offgridflow_runbook.targets import TARGET_OPTIONS, Target, target_from_options

__all__ = ["add_runbook_option", "add_target_options", "number_between", "target_from"]


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
        help=f"the runbook to read (default: ${RUNBOOK_ENV} or {DEFAULT_RUNBOOK.name} of the project)",
    )


def number_between(what: str, low: float, high: float, *, above_low: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a number from ``low`` (excluded with ``above_low``) to ``high``; anything
    else (not a number, nan, inf, out of range) is one line naming ``what`` was expected."""
    expected = f"{what} {'>' if above_low else ''}{low:g}..{high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{expected}, not {text!r}") from None
        inside = (low < value if above_low else low <= value) and value <= high  # False for nan
        if not inside:
            raise argparse.ArgumentTypeError(f"{expected}, not {text!r}")
        return value

    return parse
