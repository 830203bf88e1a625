"""environments.outlived: after a node's restart, the pods created before it that a controller makes
again are replaced, and the wait ends only when they are gone and each StatefulSet pod exists again.

The selection and the wait are tested here on a small model of a namespace (a fake kubectl that
deletes and re-creates as the controllers would); the real node restart is in
tests/kind/test_kind_node_restart.py, which uses the same function, and ``make kind-up`` calls it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from offgridflow_runbook.environments import outlived
from offgridflow_runbook.environments.outlived import OutlivedPod, outlived_pods, replace_outlived_pods

NODE_START = datetime(2026, 12, 7, 14, 25, 25, 141303, tzinfo=UTC)


def pod(
    name: str, created: datetime, owner: str | None = "ReplicaSet", phase: str = "Running"
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if owner is not None:
        metadata["ownerReferences"] = [{"kind": owner, "name": "owner", "controller": True}]
    return {"metadata": metadata, "status": {"phase": phase}}


def listing(*pods: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "List", "items": list(pods)}


BEFORE = NODE_START - timedelta(hours=5)
AFTER = NODE_START + timedelta(seconds=40)


def test_a_pod_created_before_the_node_started_and_owned_by_a_replica_set_outlived_it():
    pods = listing(pod("api-a", BEFORE), pod("api-b", AFTER))
    assert outlived_pods(pods, NODE_START) == [OutlivedPod("api-a", "ReplicaSet")]


def test_a_pod_created_in_the_second_the_node_started_in_counts_as_outlived_and_one_a_second_later_not():
    # creation times are whole seconds; a node's API server answers seconds after its start, so no pod
    # of the new start has the start's own second, and replacing a new pod would cost only a restart
    at_start = NODE_START.replace(microsecond=0)
    assert outlived_pods(listing(pod("db-0", at_start, "StatefulSet")), NODE_START) == [
        OutlivedPod("db-0", "StatefulSet")
    ]
    assert (
        outlived_pods(listing(pod("db-0", at_start + timedelta(seconds=1), "StatefulSet")), NODE_START) == []
    )


def test_a_pod_no_controller_makes_again_or_one_that_ended_is_left_alone():
    pods = listing(
        pod("bare", BEFORE, owner=None),
        pod("job-run", BEFORE, owner="Job"),
        pod("daemon", BEFORE, owner="DaemonSet"),
        pod("done", BEFORE, phase="Succeeded"),
        pod("failed", BEFORE, phase="Failed"),
    )
    assert outlived_pods(pods, NODE_START) == []


def test_a_creation_time_that_is_not_rfc_3339_is_an_error_not_a_pod_left_alone():
    broken = pod("api-a", BEFORE)
    broken["metadata"]["creationTimestamp"] = "yesterday"
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        outlived_pods(listing(broken), NODE_START)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-12-07T14:25:25.141303243Z", NODE_START),
        ("2026-12-07T14:25:25Z", NODE_START.replace(microsecond=0)),
        ("2026-12-07T15:25:25.1413+01:00", NODE_START.replace(microsecond=141300)),
    ],
)
def test_docker_and_kubernetes_times_are_read_with_their_zone(written, expected):
    assert outlived._timestamp(written) == expected


class Namespace:
    """A namespace as ``kubectl`` shows it, with controllers that replace deleted pods: a ReplicaSet's
    at once under a new name, a StatefulSet's under the same name once the old one is gone
    (``gone_after`` listings after its deletion; never with ``remakes=False``)."""

    def __init__(self, pods: list[dict[str, Any]], gone_after: int = 2, *, remakes: bool = True) -> None:
        self.pods = pods
        self.gone_after = gone_after
        self.remakes = remakes
        self.deleting: dict[str, int] = {}
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *args: str, timeout: float | None = None) -> str:
        self.calls.append(args)
        if args[2:4] == ("get", "pods"):
            self._advance()
            return json.dumps(listing(*self.pods))
        if args[2:4] == ("delete", "pod"):
            for name in args[4:]:
                if not name.startswith("--"):
                    self.deleting[name] = self.gone_after
            return ""
        raise AssertionError(f"unexpected kubectl {args}")

    def _advance(self) -> None:
        for name, left in list(self.deleting.items()):
            if left > 0:
                self.deleting[name] = left - 1
                continue
            del self.deleting[name]
            (old,) = [p for p in self.pods if p["metadata"]["name"] == name]
            self.pods.remove(old)
            owner = old["metadata"]["ownerReferences"][0]["kind"]
            if self.remakes:
                self.pods.append(pod(name if owner == "StatefulSet" else f"{name}-new", AFTER, owner))


def test_the_outlived_pods_are_deleted_and_the_wait_ends_when_each_statefulset_pod_is_back():
    namespace = Namespace(
        [pod("api-a", BEFORE), pod("postgres-0", BEFORE, "StatefulSet"), pod("api-b", AFTER)]
    )
    said: list[str] = []
    replaced = replace_outlived_pods(
        namespace, "offgridflow", NODE_START, deadline=5, say=said.append, interval=0
    )
    assert replaced == [OutlivedPod("api-a", "ReplicaSet"), OutlivedPod("postgres-0", "StatefulSet")]
    deleted = (
        "-n",
        "offgridflow",
        "delete",
        "pod",
        "api-a",
        "postgres-0",
        "--wait=false",
        "--ignore-not-found",
    )
    assert deleted in namespace.calls
    names = {p["metadata"]["name"] for p in namespace.pods}
    assert names == {"api-a-new", "postgres-0", "api-b"}
    assert said == [
        "2 pod(s) in offgridflow outlived the node's restart (a restart each, not their own): "
        "replacing api-a, postgres-0"
    ]


def test_no_outlived_pod_means_nothing_is_deleted_and_nothing_said():
    namespace = Namespace([pod("api-b", AFTER)])
    said: list[str] = []
    assert replace_outlived_pods(namespace, "offgridflow", NODE_START, deadline=5, say=said.append) == []
    assert [call[2] for call in namespace.calls] == ["get"]
    assert said == []


def test_a_pod_that_is_not_gone_by_the_deadline_fails_with_its_name():
    namespace = Namespace([pod("postgres-0", BEFORE, "StatefulSet")], gone_after=10**6)
    with pytest.raises(RuntimeError, match=r"not replaced within 0.05 s \(still there: postgres-0\)"):
        replace_outlived_pods(namespace, "offgridflow", NODE_START, deadline=0.05, say=print, interval=0.01)


def test_a_statefulset_pod_gone_but_not_made_again_is_not_replaced():
    namespace = Namespace([pod("postgres-0", BEFORE, "StatefulSet")], gone_after=0, remakes=False)
    with pytest.raises(RuntimeError, match=r"not made again: postgres-0"):
        replace_outlived_pods(namespace, "offgridflow", NODE_START, deadline=0.05, say=print, interval=0.01)


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "offgridflow_runbook.environments.outlived", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--namespace", "offgridflow", "--", "kubectl"],
        ["--node", "n", "--namespace", "offgridflow", "--deadline", "0", "--", "kubectl"],
        ["--node", "n", "--namespace", "offgridflow", "--deadline", "nan", "--", "kubectl"],
        ["--node", "n", "--namespace", "offgridflow"],
    ],
)
def test_a_bad_argument_is_one_line_and_exit_64(args):
    result = run_module(*args)
    assert result.returncode == 64, result
    assert "Traceback" not in result.stderr


def test_a_node_docker_does_not_know_is_one_line_and_exit_1():
    result = run_module("--node", "offgridflow-no-such-node-4e1f", "--namespace", "x", "--", "false")
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: docker inspect offgridflow-no-such-node-4e1f"), lines
