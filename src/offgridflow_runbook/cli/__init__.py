"""The ``offgridflow-runbook`` command: one subcommand per module in :data:`COMMAND_MODULES`.

To add a subcommand, write a module with ``add_parser(subparsers)`` that registers its parser and
sets ``run=<function(args) -> exit code>`` as a default, then add the module's name below.
User mistakes (unknown target, bad targets file, record or runbook, a number out of range) print
one line and exit 64, without a traceback; an output that cannot be written, one line and exit 73.
A reader that goes away (``| head``) ends the command quietly with its own exit code, as git and
kubectl do.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, NoReturn, TextIO

from offgridflow_runbook._startup import defer_httpx_cli

defer_httpx_cli()  # before anything imports httpx: the command's start-up stays under a second

from offgridflow_runbook.cli.options import EXIT_CANNOT_CREATE, OutputError, UsageError  # noqa: E402
from offgridflow_runbook.platforms import PlatformError  # noqa: E402
from offgridflow_runbook.reporting import EXIT_USAGE, printable  # noqa: E402
from offgridflow_runbook.runbook import RunbookError  # noqa: E402
from offgridflow_runbook.targets import TargetError  # noqa: E402

__all__ = ["COMMAND_MODULES", "EXIT_USAGE", "main"]

COMMAND_MODULES = (
    "offgridflow_runbook.cli.diagnose",
    "offgridflow_runbook.cli.check",
    "offgridflow_runbook.cli.coverage",
    "offgridflow_runbook.cli.drift",
    "offgridflow_runbook.cli.gate",
    "offgridflow_runbook.cli.restore",
    "offgridflow_runbook.cli.monitor",
    "offgridflow_runbook.cli.gameday",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one line (the usage is one --help away), the user's own text shown with its controls escaped
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)} (see --help)\n")


# an error line longer than this keeps its start and its end: a 100 KB value given by mistake is not
# echoed whole, and what follows it (the known targets, the allowed range) stays readable
_LINE_MAX = 1000
_LINE_HEAD = 600
_LINE_TAIL = 300


def _one_line(message: str) -> str:
    """``message`` on one line, its control characters escaped, its middle left out when very long."""
    line = printable(message, newlines=False)
    if len(line) <= _LINE_MAX:
        return line
    left_out = len(line) - _LINE_HEAD - _LINE_TAIL
    return f"{line[:_LINE_HEAD]}... ({left_out} characters left out) ...{line[-_LINE_TAIL:]}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="offgridflow-runbook",
        description="Checks, diagnosis and game days for the 'OffGridFlow API Down' runbook.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


class _ClosedPipeTolerant:
    """The command's stdout: once the reader has gone (``| head``), the rest is discarded instead
    of raising, so the command ends with its own exit code and no traceback."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._discard_from_now_on()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard_from_now_on()

    def _discard_from_now_on(self) -> None:
        # the usual pattern: devnull onto the descriptor, so no later flush (at exit) fails again
        try:
            descriptor = self._stream.fileno()
        except (OSError, ValueError):  # not a real file (captured output): nothing will flush to it
            return
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), descriptor)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


USER_ERRORS = (TargetError, PlatformError, RunbookError, UsageError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stdout = sys.stdout
    sys.stdout = _ClosedPipeTolerant(stdout)
    try:
        code = int(args.run(args))
        sys.stdout.flush()
        return code
    except USER_ERRORS as error:
        sys.stdout.flush()
        print(f"offgridflow-runbook: error: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_USAGE
    except OutputError as error:
        sys.stdout.flush()
        print(f"offgridflow-runbook: error: {_one_line(str(error))}", file=sys.stderr)
        return EXIT_CANNOT_CREATE
    except KeyboardInterrupt:
        return 130
    finally:
        sys.stdout = stdout
