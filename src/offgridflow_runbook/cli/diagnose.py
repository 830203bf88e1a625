"""``offgridflow-runbook diagnose``: the runbook's triage tree against a target.

Exit status: 0 healthy, 2 a problem was diagnosed, 3 the target is unreachable, 4 inconclusive
(nothing seen wrong, but something the target declares could not be read).
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import timedelta
from typing import Any

from offgridflow_runbook.cli.options import (
    OutputError,
    UsageError,
    add_target_options,
    given_target_options,
    non_empty_path,
    quoted,
    target_from,
)
from offgridflow_runbook.probes.platform import open_platform
from offgridflow_runbook.reporting import Redactor, printable
from offgridflow_runbook.runbook.evidence import DEFAULT_SINCE, MAX_SINCE, Seen
from offgridflow_runbook.runbook.triage import Diagnosis, decide, look_for_triage

_DURATION = re.compile(r"([0-9]{1,12})([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> timedelta:
    """``90s``, ``10m``, ``1h``, ``2d`` (as kubectl's ``--since``), more than 0 and at most
    :data:`~offgridflow_runbook.runbook.evidence.MAX_SINCE`."""
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{quoted(text)} is not a duration such as 10m, 1h or 2d")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds > MAX_SINCE.total_seconds():
        raise argparse.ArgumentTypeError(
            f"{quoted(text)} is longer than {_longest()}, the longest window events are kept"
        )
    return timedelta(seconds=seconds)


def _longest() -> str:
    return f"{MAX_SINCE.days}d"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="walk Triage 1 -> 2A-2D and name every candidate cause and the runbook section that fixes it",
        description="Walk the runbook's triage (read-only) and print every candidate cause with its "
        "evidence (first: what the runbook says to do first), the section's commands, and what could "
        "not be read. Exit 0 healthy, 2 problem diagnosed, 3 unreachable, 4 inconclusive.",
    )
    add_target_options(parser)
    parser.add_argument("--json", action="store_true", help="print the diagnosis as one JSON object")
    parser.add_argument(
        "--since",
        type=duration,
        default=None,
        help="weigh events this recent (default 1h, what the API server keeps, or for --from-record the "
        "window the look was recorded with); older ones are counted and mentioned",
    )
    parser.add_argument(
        "--record",
        metavar="FILE",
        type=non_empty_path,
        default=None,
        help="also save what this look saw to FILE (JSON)",
    )
    parser.add_argument(
        "--from-record",
        metavar="FILE",
        type=non_empty_path,
        default=None,
        help="judge a look saved with --record instead of looking at the target",
    )
    parser.set_defaults(run=run)


def render(diagnosis: Diagnosis, target_name: str) -> str:
    """The diagnosis for a terminal. Every field is one line, its control characters shown as escapes:
    events, logs and answers come from the target and must not steer the terminal or fake a line."""

    def one(text: object) -> str:
        return printable(str(text), newlines=False)

    def reading_lines(readings: Any) -> list[str]:
        return [f"  - {one(reading.source)}: {one(reading.detail)}" for reading in readings]

    lines = [
        f"target:   {one(target_name)}",
        f"outcome:  {one(diagnosis.outcome)}",
        f"cause:    {one(diagnosis.cause)}",
        f"summary:  {one(diagnosis.summary)}",
        f"section:  {one(diagnosis.section)}",
    ]
    for rank, candidate in enumerate(diagnosis.candidates, start=1):
        lines.append(f"candidate {rank}: {one(candidate.section)} ({one(candidate.cause)})")
        lines += reading_lines(candidate.evidence)
    if diagnosis.unknowns:
        lines.append("could not see:")
        lines += reading_lines(diagnosis.unknowns)
    fine = [r for r in diagnosis.readings if r.seen is Seen.FINE]
    if fine:
        lines.append("seen fine:")
        lines += reading_lines(fine)
    if diagnosis.commands:
        lines.append(f"commands ({one(diagnosis.section)}):")
        lines += [f"  {one(command)}" for command in diagnosis.commands]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.from_record is not None:
        # a recorded look has its own target and is not looked at again: these would be ignored
        ignored = given_target_options(args) + (["--record"] if args.record is not None else [])
        if ignored:
            raise UsageError(f"--from-record judges a saved look; drop {', '.join(ignored)}")
        from offgridflow_runbook.probes import record  # imported only for --from-record and --record

        try:
            observations, saved = record.load(args.from_record)
        except record.RecordError as error:
            raise UsageError(str(error)) from None
        target = observations.target
        since = record.since_of(saved, DEFAULT_SINCE) if args.since is None else args.since
        if since > MAX_SINCE:
            raise UsageError(f"{args.from_record}: since_s is longer than {_longest()}; give --since")
    else:
        target = target_from(args)
        access = open_platform(target)
        try:
            observations = look_for_triage(target, access.platform, platform_reason=access.reason)
        finally:
            access.close()
        since = DEFAULT_SINCE if args.since is None else args.since
        if args.record is not None:
            from offgridflow_runbook.probes import record

            # the window is part of what was judged: the record keeps it for --from-record and the corpus
            try:
                record.save(observations, args.record, since_s=since.total_seconds())
            except OSError as error:
                raise OutputError(
                    f"--record {args.record}: cannot write: {error.strerror or error}"
                ) from None
    diagnosis = decide(observations, since=since)
    redact = Redactor([target.token])
    if args.json:
        print(json.dumps(redact.value({"target": target.name, **diagnosis.as_dict()}), indent=2))
    else:
        print(redact(render(diagnosis, target.name)))
    return diagnosis.exit_code
