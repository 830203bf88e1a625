"""``offgridflow-runbook diagnose``: the runbook's triage tree against a target.

Exit status: 0 healthy, 2 a problem was diagnosed, 3 the target is unreachable.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from offgridflow_runbook.commands._target_options import add_target_options, target_from
from offgridflow_runbook.reporting import Redactor
from offgridflow_runbook.triage import Diagnosis, diagnose


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        help="walk Triage 1 -> 2A-2D and name the cause and the runbook section that fixes it",
        description="Walk the runbook's triage (read-only) and print the cause, the evidence, the runbook "
        "section that applies and its commands. Exit 0 healthy, 2 problem diagnosed, 3 unreachable.",
    )
    add_target_options(parser)
    parser.add_argument("--json", action="store_true", help="print the diagnosis as one JSON object")
    parser.set_defaults(run=run)


def render(diagnosis: Diagnosis, target_name: str) -> str:
    lines = [
        f"target:   {target_name}",
        f"cause:    {diagnosis.cause}",
        f"summary:  {diagnosis.summary}",
        f"section:  {diagnosis.section}",
    ]
    if diagnosis.evidence:
        lines.append("evidence:")
        lines += [f"  - {item}" for item in diagnosis.evidence]
    if diagnosis.commands:
        lines.append(f"commands ({diagnosis.section}):")
        lines += [f"  {command}" for command in diagnosis.commands]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    target = target_from(args)
    diagnosis = diagnose(target)
    redact = Redactor([target.token])
    if args.json:
        print(json.dumps(redact.value({"target": target.name, **diagnosis.as_dict()}), indent=2))
    else:
        print(redact(render(diagnosis, target.name)))
    return diagnosis.exit_code
