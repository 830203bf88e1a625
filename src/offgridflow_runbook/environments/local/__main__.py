"""The local stack's commands.

``python -m offgridflow_runbook.environments.local up [--profile fast|production] | down | clean |
status | health`` (and ``images``; ``wheelhouse``: only the API image's wheels, for the kind images).
"""

from __future__ import annotations

import argparse
import sys

from offgridflow_runbook.environments.local import (
    StackError,
    build_wheelhouse,
    clean,
    down,
    health,
    images,
    status,
    up,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m offgridflow_runbook.environments.local", description=__doc__
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="bring the local stack up and wait until it is healthy")
    start.add_argument("--profile", choices=("fast", "production"), default="fast", help="Prometheus timing")
    commands.add_parser("down", help="remove the containers, keep the data")
    commands.add_parser("clean", help="remove the containers and the data")
    commands.add_parser("status", help="list the stack's containers")
    commands.add_parser("health", help="each part fine, bad or unknown (exit 1 unless all are fine)")
    commands.add_parser("images", help="build the images and fill the local registry, start nothing else")
    commands.add_parser("wheelhouse", help="build only the API image's wheels (deploy/docker/wheelhouse)")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "up":
            up(arguments.profile)
        elif arguments.command == "down":
            down()
        elif arguments.command == "clean":
            clean()
        elif arguments.command == "images":
            images()
        elif arguments.command == "wheelhouse":
            build_wheelhouse(print)
        elif arguments.command == "health":
            parts = health()
            for seen in parts:
                print(f"{seen.name:<18} {seen.outcome:<8} {seen.detail}")
            return 0 if all(part.fine for part in parts) else 1
        else:
            rows = status()
            if not rows:
                print("the local stack is not running (make up)")
            for row in rows:
                shown = f" ({row.health})" if row.health else ""
                print(f"{row.name:<18} {row.state}{shown:<12} restarts={row.restart_count:<3} {row.image}")
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
