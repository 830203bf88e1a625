"""Pods that outlived their node's restart, replaced by new ones.

A kind node is a Docker container. When it restarts (a Docker Engine restart, the machine's reboot,
``docker start`` of a stopped node) its pods keep their names and objects, but every container in them
starts again in a new sandbox: each pod counts a restart, and the run before it ended "Unknown" (exit
255). A reused cluster then looks like one whose workloads restart by themselves, to the runbook's
triage and to every test that counts restarts, although nothing in them failed. ``make kind-up`` hands
over pods as a new cluster has them: the ones created before the node's last start and owned by a
controller that replaces them (a ReplicaSet, a StatefulSet) are deleted, and it waits until they are
gone and every StatefulSet pod among them exists again. Readiness is left to the caller's rollout
wait. A pod without such a controller, or one that has ended, is left alone.

    python -m offgridflow_runbook.environments.outlived --node NODE --namespace NS \\
        [--deadline SECONDS] -- KUBECTL [KUBECTL ARGS...]

exits 0 once replaced (or when none outlived the node's start), 1 with one line when kubectl or
docker failed or the pods were not replaced in time, 64 on a bad argument.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from offgridflow_runbook.environments.arguments import seconds_above_zero

__all__ = [
    "REPLACING_OWNERS",
    "OutlivedPod",
    "main",
    "node_started",
    "outlived_pods",
    "replace_outlived_pods",
]

# the controllers that make a deleted pod again (a StatefulSet under the same name)
REPLACING_OWNERS = frozenset({"ReplicaSet", "StatefulSet"})
_ENDED_PHASES = frozenset({"Succeeded", "Failed"})
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:\d\d)")

Kubectl = Callable[..., str]  # kubectl with these args; its stdout, RuntimeError when it fails
Say = Callable[[str], None]


@dataclass(frozen=True)
class OutlivedPod:
    """A pod created before the node's last start, and the kind of controller that makes it again."""

    name: str
    owner_kind: str


def _timestamp(text: str) -> datetime:
    """An RFC 3339 time as Docker and Kubernetes write it (nanoseconds cut to microseconds)."""
    found = _RFC3339.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text.strip()!r} is not an RFC 3339 time with a zone")
    whole, fraction, zone = found.groups()
    fraction = (fraction or "")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{whole}.{fraction}{'+00:00' if zone in ('Z', 'z') else zone}")


def node_started(node: str, *, timeout: float = 30.0) -> datetime:
    """When the node's container last started (``docker inspect``); RuntimeError when Docker cannot say."""
    try:
        result = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.StartedAt}}", node],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise RuntimeError(f"docker inspect {node} failed: {error}") from error
    if result.returncode != 0:
        raise RuntimeError(f"docker inspect {node} failed: {(result.stderr or result.stdout).strip()}")
    try:
        return _timestamp(result.stdout)
    except ValueError as error:
        raise RuntimeError(f"docker inspect {node} gave no start time: {result.stdout.strip()!r}") from error


def outlived_pods(pods: Mapping[str, Any], since: datetime) -> list[OutlivedPod]:
    """The pods of a ``kubectl get pods -o json`` answer created before ``since``, not ended, and owned
    by a controller that makes them again, in name order."""
    found = []
    for pod in _items(pods):
        metadata = pod.get("metadata") or {}
        status = pod.get("status") or {}
        owners = [
            owner.get("kind")
            for owner in metadata.get("ownerReferences") or []
            if owner.get("controller") and owner.get("kind") in REPLACING_OWNERS
        ]
        if not owners or status.get("phase") in _ENDED_PHASES:
            continue
        created = metadata.get("creationTimestamp")
        if created and _timestamp(created) < since:
            found.append(OutlivedPod(str(metadata["name"]), str(owners[0])))
    return sorted(found, key=lambda pod: pod.name)


def _items(pods: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pod objects of a ``kubectl get pods -o json`` answer."""
    items = pods.get("items")
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _pods(kubectl: Kubectl, namespace: str) -> Mapping[str, Any]:
    answer = kubectl("-n", namespace, "get", "pods", "-o", "json")
    try:
        parsed = json.loads(answer)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"kubectl get pods in {namespace} gave no JSON: {error}") from error
    if not isinstance(parsed, dict):
        raise RuntimeError(f"kubectl get pods in {namespace} gave no pod list")
    return parsed


def replace_outlived_pods(
    kubectl: Kubectl,
    namespace: str,
    since: datetime,
    *,
    deadline: float,
    say: Say = print,
    interval: float = 1.0,
) -> list[OutlivedPod]:
    """Delete the pods in ``namespace`` that outlived ``since`` (see :func:`outlived_pods`) and wait (at
    most ``deadline`` s) until none of them is left and each StatefulSet pod among them was made again.
    Returns the replaced pods; RuntimeError (one line) when kubectl fails or the deadline passes."""
    old = outlived_pods(_pods(kubectl, namespace), since)
    if not old:
        return []
    names = [pod.name for pod in old]
    say(
        f"{len(old)} pod(s) in {namespace} outlived the node's restart (a restart each, not their own): "
        f"replacing {', '.join(names)}"
    )
    kubectl("-n", namespace, "delete", "pod", *names, "--wait=false", "--ignore-not-found")
    # a StatefulSet makes its pod again under the same name, and only once the old one is gone
    again = {pod.name for pod in old if pod.owner_kind == "StatefulSet"}
    end = time.monotonic() + deadline
    while True:
        current = _pods(kubectl, namespace)
        left = [pod.name for pod in outlived_pods(current, since)]
        present = {str((pod.get("metadata") or {}).get("name")) for pod in _items(current)}
        missing = sorted(again - present)
        if not left and not missing:
            return old
        if time.monotonic() >= end:
            problems = [f"still there: {', '.join(left)}"] if left else []
            problems += [f"not made again: {', '.join(missing)}"] if missing else []
            raise RuntimeError(
                f"the pods that outlived the node's restart were not replaced within {deadline:g} s "
                f"({'; '.join(problems)})"
            )
        time.sleep(interval)


def _kubectl_runner(command: Sequence[str], timeout: float) -> Kubectl:
    def run(*args: str) -> str:
        try:
            result = subprocess.run(
                [*command, *args], capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {error}") from error
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {lines[-1] if lines else 'no output'}")
        return result.stdout

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m offgridflow_runbook.environments.outlived", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--node", required=True, help="the node's container, e.g. offgridflow-control-plane")
    parser.add_argument("--namespace", required=True, help="whose pods are replaced, e.g. offgridflow")
    parser.add_argument(
        "--deadline", type=seconds_above_zero, default=300.0, help="seconds to wait at most (default 300)"
    )
    parser.add_argument("kubectl", nargs="+", help="the kubectl command, after --")
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as stop:
        return 64 if stop.code else 0
    kubectl = _kubectl_runner(arguments.kubectl, timeout=min(arguments.deadline, 60.0))
    try:
        since = node_started(arguments.node)
        replace_outlived_pods(kubectl, arguments.namespace, since, deadline=arguments.deadline)
    except (RuntimeError, ValueError) as error:  # ValueError: a time kubectl wrote that is not RFC 3339
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
