"""Options the subcommands share: the target's (``TARGET_OPTIONS``, as in pytest) and the runbook's,
the checked numbers (a timeout that is NaN, infinite or negative is a usage error, not a hang), ports
and paths (an empty path is ``.``, or "not given" to a truthiness test: a usage error, never a fallback).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from offgridflow_runbook.runbook.location import RUNBOOK_ENV, RUNBOOK_IN_PROJECT  # not the parser
from offgridflow_runbook.targets import TARGET_OPTIONS, Target, target_from_options

__all__ = [
    "EXIT_CANNOT_CREATE",
    "OutputError",
    "UsageError",
    "add_runbook_option",
    "add_target_options",
    "checks_dir",
    "given_target_options",
    "non_empty_path",
    "non_empty_text",
    "number_in",
    "port_in",
    "quoted",
    "target_from",
    "target_values",
]

EXIT_CANNOT_CREATE = 73  # EX_CANTCREAT: an output the command was told to write cannot be written
# a bad value is named in its error line up to this long: a 100k-character value is not echoed whole
_QUOTED_MAX = 80
_PORT = re.compile(r"[0-9]{1,5}")


class UsageError(Exception):
    """A command-line mistake found after parsing (a file of the wrong kind); one line, exit 64."""


class OutputError(Exception):
    """An output the command was told to write (a report, a metrics file) cannot be; one line, exit 73."""


def quoted(text: str) -> str:
    """``text`` as ``repr`` shows it (control characters escaped), cut to its first characters when long."""
    if len(text) <= _QUOTED_MAX:
        return repr(text)
    return f"{text[:_QUOTED_MAX]!r}... ({len(text)} characters)"


def non_empty_text(text: str) -> str:
    """An argparse type: any text but the empty one (a target's name, a URL, a namespace)."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def non_empty_path(text: str) -> Path:
    """An argparse type for every path-valued option: ``Path("")`` is ``.``, the working directory."""
    return Path(non_empty_text(text))


def add_target_options(parser: argparse.ArgumentParser) -> None:
    # no default here: None is "not given" (see given_target_options); target_values fills the defaults
    for option in TARGET_OPTIONS:
        parser.add_argument(option.flag, type=non_empty_text, default=None, help=option.help)


def target_values(args: argparse.Namespace) -> dict[str, str | None]:
    """Each target option's value by ``dest``, its default where it was not given."""
    given = {option.dest: getattr(args, option.dest) for option in TARGET_OPTIONS}
    return {o.dest: o.default if given[o.dest] is None else given[o.dest] for o in TARGET_OPTIONS}


def given_target_options(args: argparse.Namespace) -> list[str]:
    """The target options given on the command line, as flags."""
    return [option.flag for option in TARGET_OPTIONS if getattr(args, option.dest) is not None]


def target_from(args: argparse.Namespace) -> Target:
    """The chosen target with the overrides applied; TargetError for a user mistake."""
    return target_from_options(target_values(args).__getitem__)


def checks_dir(path: Path) -> Path:
    """``path`` if it is a checks directory, one with its own ``pytest.ini``, else UsageError. Without
    that file pytest takes the project's configuration and collects from the directory down: given the
    repository, that is the whole suite, including the tests that change live systems."""
    if not path.is_dir():
        raise UsageError(f"no checks directory at {path}")
    if not (path / "pytest.ini").is_file():
        raise UsageError(f"no checks directory at {path}: it holds no pytest.ini (as checks/ does)")
    return path


def add_runbook_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runbook",
        type=non_empty_path,
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
            raise argparse.ArgumentTypeError(f"{what} {low:g}..{high:g}, not {quoted(text)}")
        return value

    return parse


def port_in(low: int) -> Callable[[str], int]:
    """An argparse type: a TCP port from ``low`` (0 where it means "any free one", else 1) to 65535;
    a plain ``int`` would take -1 or 70000 and fail later, deep in ``bind``."""

    def parse(text: str) -> int:
        if not _PORT.fullmatch(text) or not low <= int(text) <= 65535:
            raise argparse.ArgumentTypeError(f"a port {low}..65535, not {quoted(text)}")
        return int(text)

    return parse
