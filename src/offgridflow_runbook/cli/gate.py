"""``offgridflow-runbook gate``: the deploy gate (the runbook's prevention items "pre-deployment health
checks" and "automated rollback on failed deployments" as one command).

Exit 0 the candidate passed and stays; 1 rejected and rolled back; 3 rejected and the rollback
failed; 64 a usage error (bad target, image reference or option; a target that does not allow
writes; no token) before anything changed; 73 the reports directory cannot take the reports (found
before anything changed); 130 interrupted (rolled back first).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from offgridflow_runbook.cli.check import CHECKS_DIR
from offgridflow_runbook.cli.options import (
    OutputError,
    add_runbook_option,
    add_target_options,
    checks_dir,
    non_empty_path,
    number_in,
    target_from,
    target_values,
)
from offgridflow_runbook.gate.reference import image_reference
from offgridflow_runbook.targets import TARGET_OPTIONS, TargetError

REPORTS_DIR = Path("reports/gate")


# a gate's waits: at least a second, at most a day
_seconds = number_in(1, 86400, "seconds")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="deploy a candidate image, judge it with the runbook's checks and drift, roll back on failure",
        description="Record the running revision, set the candidate image, wait for its rollout, run "
        "`pytest checks` and the runbook's read-only commands (drift) against it, and on any failure "
        "roll back (`rollout undo`) and verify the rollback with Verification 1-5. Reports: "
        "reports/gate/ (gate.json, junit.xml, report.html, results.jsonl, drift.json). Exit 0 passed, "
        "1 rejected and rolled back, 3 rejected and the rollback failed, 64 usage, 130 interrupted.",
    )
    add_target_options(parser)
    parser.add_argument(
        "--image", required=True, type=image_reference, help="the candidate image (with a tag)"
    )
    add_runbook_option(parser)
    parser.add_argument(
        "--checks-dir", type=non_empty_path, default=CHECKS_DIR, help="the checks (default: checks)"
    )
    parser.add_argument(
        "--reports", type=non_empty_path, default=REPORTS_DIR, help="where reports go (default: reports/gate)"
    )
    for flag, default, what in (
        ("--rollout-timeout", 300.0, "the candidate's rollout may take"),
        ("--checks-timeout", 300.0, "the checks may take"),
        ("--rollback-timeout", 420.0, "the rollback and Verification 1-5 after it may take"),
        ("--pull-grace", 30.0, "the candidate's image may fail to pull before it is rejected"),
    ):
        parser.add_argument(
            flag, type=_seconds, default=default, help=f"seconds {what} (default: {default:.0f})"
        )
    parser.add_argument(
        "--json", action="store_true", help="print gate.json on stdout instead of the summary"
    )
    parser.set_defaults(run=run)


def _target_args(args: argparse.Namespace) -> list[str]:
    """The target options as given, for the checks' own command line (the same target, resolved alike)."""
    values = target_values(args)
    given = [(option.flag, values[option.dest]) for option in TARGET_OPTIONS]
    return [part for flag, value in given if value is not None for part in (flag, str(value))]


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # a cancelled CI job: roll back as for Ctrl-C


def run(args: argparse.Namespace) -> int:
    target = target_from(args)
    if not target.allow_writes:
        raise TargetError(
            f"target {target.name!r} does not allow writes (allow_writes is false in the targets file); "
            "the gate changes the target, refusing"
        )
    if target.token is None:
        raise TargetError(
            f"the gate needs the API token in ${target.token_env}: without it Verification 3 cannot be judged"
        )
    checks_dir(args.checks_dir)
    # imported here: every command builds this parser
    import json

    from offgridflow_runbook.gate.judge import PytestChecks
    from offgridflow_runbook.gate.runner import GateSettings, ReportsError, prepare_reports, run_gate
    from offgridflow_runbook.platforms import platform_for
    from offgridflow_runbook.reporting import Redactor
    from offgridflow_runbook.runbook.document import load_runbook

    runbook = load_runbook(args.runbook)
    settings = GateSettings(
        rollout_timeout=args.rollout_timeout,
        checks_timeout=args.checks_timeout,
        rollback_timeout=args.rollback_timeout,
        pull_grace_s=args.pull_grace,
    )
    checks = PytestChecks(args.checks_dir, _target_args(args), settings.checks_timeout)
    try:
        prepare_reports(args.reports)  # the last refusal, before the platform is even opened
    except ReportsError as error:
        raise OutputError(f"--reports: {error}") from None
    platform = platform_for(target)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        report = run_gate(
            target,
            args.image,
            platform=platform,
            checks=checks,
            runbook=runbook,
            reports_dir=args.reports,
            settings=settings,
            say=lambda line: print(f"gate: {line}", file=sys.stderr, flush=True),
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
        platform.close()
    if args.json:
        print(json.dumps(Redactor([target.token]).value(report.as_dict()), indent=2))
    else:
        print(report.summary())
    return report.exit_code
