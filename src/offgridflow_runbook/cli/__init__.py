"""The ``offgridflow-runbook`` command: one subcommand per module in :data:`COMMAND_MODULES`.

To add a subcommand, write a module with ``add_parser(subparsers)`` that registers its parser and
sets ``run=<function(args) -> exit code>`` as a default, then add the module's name below.
User mistakes (unknown target, bad targets file, unreadable runbook) print one line and exit 64,
without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from offgridflow_runbook._startup import defer_httpx_cli

defer_httpx_cli()  # before anything imports httpx: the command's start-up stays under a second

from offgridflow_runbook.platforms import PlatformError  # noqa: E402
from offgridflow_runbook.runbook import RunbookError  # noqa: E402
from offgridflow_runbook.targets import TargetError  # noqa: E402

__all__ = ["COMMAND_MODULES", "EXIT_USAGE", "main"]

COMMAND_MODULES = (
    "offgridflow_runbook.cli.diagnose",
    "offgridflow_runbook.cli.check",
    "offgridflow_runbook.cli.coverage",
    "offgridflow_runbook.cli.drift",
    "offgridflow_runbook.cli.monitor",
)
EXIT_USAGE = 64  # EX_USAGE: 2 and 3 are taken by `diagnose` (problem found / unreachable)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="offgridflow-runbook",
        description="Checks, diagnosis and game days for the 'OffGridFlow API Down' runbook.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (TargetError, PlatformError, RunbookError) as error:
        print(f"offgridflow-runbook: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
