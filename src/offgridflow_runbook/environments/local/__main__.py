"""The local stack's commands.

``python -m offgridflow_runbook.environments.local up [--profile fast|production] | down | clean |
status | health`` (and ``images``; for the kind images: ``wheelhouse``, only the API image's wheels, and
``inputs``, the API's and the monitor's inputs hashes).
"""

from __future__ import annotations

import argparse
import sys

import docker
from docker.errors import DockerException

from offgridflow_runbook.environments.local import (
    StackError,
    build_inputs,
    build_wheelhouse,
    clean,
    down,
    health,
    images,
    status,
    up,
)
from offgridflow_runbook.platforms.docker.names import INPUTS_HASH_LABEL


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
    commands.add_parser(
        "inputs", help="print the inputs label and the API's and monitor's hashes (label= api= monitor=)"
    )
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
        elif arguments.command == "inputs":
            try:
                client = docker.from_env(timeout=30)
            except DockerException as error:
                raise StackError(f"the Docker Engine does not answer: {error}") from None
            try:
                hashes = build_inputs(client)
            finally:
                client.close()
            pairs = [f"label={INPUTS_HASH_LABEL}", *(f"{name}={value}" for name, value in hashes.items())]
            print(" ".join(pairs))
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
