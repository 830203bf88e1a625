"""``offgridflow-runbook`` in this process, with the exit code a user would see."""

from __future__ import annotations

from offgridflow_runbook.cli import main


def exit_code(argv: list[str]) -> int:
    """``main(argv)``'s exit code, argparse's own refusals (a value an option's type rejects, which
    exit through SystemExit) included."""
    try:
        return main(argv)
    except SystemExit as exited:
        return int(exited.code or 0)
