"""``offgridflow-runbook check``: run the pytest checks (``checks/``) against a target."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from offgridflow_runbook.cli.options import checks_dir, non_empty_path, non_empty_text

CHECKS_DIR = Path("checks")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="run the runbook's Triage and Verification checks (pytest checks) against a target",
        description="Runs `pytest checks --target NAME`; extra arguments after `--` go to pytest. "
        "Reports: reports/checks/report.html, junit.xml, results.jsonl.",
    )
    parser.add_argument(
        "--target", type=non_empty_text, default="local", help="target profile (default: local)"
    )
    parser.add_argument(
        "--checks-dir",
        type=non_empty_path,
        default=CHECKS_DIR,
        help="the checks directory, with its pytest.ini (default: checks)",
    )
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments passed on to pytest")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import pytest

    checks_dir(args.checks_dir)
    extra = [arg for arg in args.pytest_args if arg != "--"]
    return int(pytest.main([str(args.checks_dir), "--target", args.target, *extra]))
