"""``offgridflow-runbook check``: run the pytest checks (``checks/``) against a target."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from offgridflow_runbook.cli.options import (
    add_target_options,
    checks_dir,
    non_empty_path,
    target_from,
    target_values,
)
from offgridflow_runbook.targets import TARGET_OPTIONS

CHECKS_DIR = Path("checks")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the runbook's Triage and Verification checks (pytest checks) against a target",
        description="Runs `pytest checks --target NAME` with the target options given here; extra "
        "arguments after `--` go to pytest. Reports: reports/checks/report.html, junit.xml, "
        "results.jsonl.",
    )
    add_target_options(parser)
    parser.add_argument(
        "--checks-dir",
        type=non_empty_path,
        default=CHECKS_DIR,
        help="the checks directory, with its pytest.ini (default: checks)",
    )
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments passed on to pytest")
    parser.set_defaults(run=run)


def pytest_target_args(args: argparse.Namespace) -> list[str]:
    """The target options for pytest: ``--target`` always (its default where not given), the others
    as given. Each is one word, ``--flag=value``: a value given as a word of its own that names a path
    would count among the paths pytest chooses its configuration file by."""
    values = target_values(args)
    return [f"--target={values['target']}"] + [
        f"{option.flag}={getattr(args, option.dest)}"
        for option in TARGET_OPTIONS
        if option.dest != "target" and getattr(args, option.dest) is not None
    ]


def run(args: argparse.Namespace) -> int:
    checks_dir(args.checks_dir)
    target_from(args)  # a wrong target or override is one usage line here, before pytest starts
    import pytest

    extra = [arg for arg in args.pytest_args if arg != "--"]
    return int(pytest.main([str(args.checks_dir), *pytest_target_args(args), *extra]))
