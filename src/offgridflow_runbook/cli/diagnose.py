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

from offgridflow_runbook.cli.options import add_target_options, target_from
from offgridflow_runbook.probes.platform import open_platform
from offgridflow_runbook.reporting import Redactor
from offgridflow_runbook.runbook.evidence import DEFAULT_SINCE, Seen
from offgridflow_runbook.runbook.triage import Diagnosis, decide, look_for_triage
from offgridflow_runbook.targets import TargetError

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    """``90s``, ``10m``, ``1h``, ``2d`` (as kubectl's ``--since``)."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 10m, 1h or 2d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


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
        "--record", metavar="FILE", default=None, help="also save what this look saw to FILE (JSON)"
    )
    parser.add_argument(
        "--from-record",
        metavar="FILE",
        default=None,
        help="judge a look saved with --record instead of looking at the target",
    )
    parser.set_defaults(run=run)


def render(diagnosis: Diagnosis, target_name: str) -> str:
    lines = [
        f"target:   {target_name}",
        f"outcome:  {diagnosis.outcome}",
        f"cause:    {diagnosis.cause}",
        f"summary:  {diagnosis.summary}",
        f"section:  {diagnosis.section}",
    ]
    for rank, candidate in enumerate(diagnosis.candidates, start=1):
        lines.append(f"candidate {rank}: {candidate.section} ({candidate.cause})")
        lines += [f"  - {reading.source}: {reading.detail}" for reading in candidate.evidence]
    unknowns = diagnosis.unknowns
    if unknowns:
        lines.append("could not see:")
        lines += [f"  - {reading.source}: {reading.detail}" for reading in unknowns]
    fine = [r for r in diagnosis.readings if r.seen is Seen.FINE]
    if fine:
        lines.append("seen fine:")
        lines += [f"  - {reading.source}: {reading.detail}" for reading in fine]
    if diagnosis.commands:
        lines.append(f"commands ({diagnosis.section}):")
        lines += [f"  {command}" for command in diagnosis.commands]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.from_record:
        from offgridflow_runbook.probes import record  # imported only for --from-record and --record

        try:
            observations, saved = record.load(args.from_record)
        except record.RecordError as error:
            raise TargetError(str(error)) from None
        target = observations.target
        since = args.since or record.since_of(saved, DEFAULT_SINCE)
    else:
        target = target_from(args)
        access = open_platform(target)
        try:
            observations = look_for_triage(target, access.platform, platform_reason=access.reason)
        finally:
            access.close()
        since = args.since or DEFAULT_SINCE
        if args.record:
            from offgridflow_runbook.probes import record

            # the window is part of what was judged: the record keeps it for --from-record and the corpus
            record.save(observations, args.record, since_s=since.total_seconds())
    diagnosis = decide(observations, since=since)
    redact = Redactor([target.token])
    if args.json:
        print(json.dumps(redact.value({"target": target.name, **diagnosis.as_dict()}), indent=2))
    else:
        print(redact(render(diagnosis, target.name)))
    return diagnosis.exit_code
