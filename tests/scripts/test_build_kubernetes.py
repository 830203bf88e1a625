"""tools/cluster/build-kubernetes.sh builds all Kubernetes binaries or only the ones named, each once.

`make test` builds kubectl alone before the suite (the manifests are rendered with it), and the kind
tier builds the rest later: neither may build a binary the other already built from the same inputs.
The `go` here is a stand-in that records its calls and writes a placeholder binary.
"""

from __future__ import annotations

import fcntl
import re
import subprocess
from pathlib import Path

import pytest

from helpers.shell_scripts import GO_BUILD_WRITES_PLACEHOLDERS, SCRIPT_TIMEOUT_SECONDS, run_script, write_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "tools" / "cluster" / "build-kubernetes.sh"
ALL = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubelet",
    "kubeadm",
    "kubectl",
)
FAKE_GO = (
    """#!/bin/sh
echo "$*" >> "$CALLS"
case "$1" in
  list) echo v1.34.4 ;;
  env) echo "$GO_VERSION" ;;
  build)
"""
    + GO_BUILD_WRITES_PLACEHOLDERS
    + """esac
"""
)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    write_tool(tmp_path / "fake" / "go", FAKE_GO)
    return tmp_path / "bin"


def environment(out: Path, go_version: str = "go1.26.0") -> dict[str, str]:
    return {
        "PATH": f"{out.parent / 'fake'}:/usr/bin:/bin",
        "OUT": str(out),
        "CALLS": str(out.parent / "calls.txt"),
        "GO_VERSION": go_version,
    }


def built(out: Path) -> list[str]:
    """The binaries the stand-in go built since ``calls.txt`` was emptied, in order."""
    return [
        name
        for line in (out.parent / "calls.txt").read_text().splitlines()
        if line.startswith("build ")
        for name in re.findall(r"k8s\.io/kubernetes/cmd/([\w-]+)", line)
    ]


def build(out: Path, *commands: str, go_version: str = "go1.26.0") -> list[str]:
    """The binaries this run built, in order."""
    (out.parent / "calls.txt").write_text("")
    result = run_script(SCRIPT, environment(out, go_version), *commands)
    assert result.returncode == 0, result.stderr
    return built(out)


def test_kubectl_alone_then_the_rest_builds_each_binary_once(out: Path) -> None:
    assert build(out, "kubectl") == ["kubectl"]
    assert build(out, "kubectl") == []
    assert build(out) == [c for c in ALL if c != "kubectl"]
    assert build(out) == []
    assert build(out, "kubectl") == []


def test_a_full_build_leaves_kubectl_up_to_date(out: Path) -> None:
    assert build(out) == list(ALL)
    assert build(out, "kubectl") == []


def test_another_go_rebuilds(out: Path) -> None:
    build(out)
    assert build(out, "kubectl", go_version="go1.26.1") == ["kubectl"]
    assert build(out, go_version="go1.26.1") == [c for c in ALL if c != "kubectl"]


def test_a_run_that_finds_the_set_being_built_says_what_it_waits_for_then_builds_what_is_left(
    out: Path,
) -> None:
    (out.parent / "calls.txt").write_text("")
    (out / ".locks").mkdir(parents=True)
    with (out / ".locks" / "kubernetes.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another run's build of the set
        waiting = subprocess.Popen(
            ["bash", str(SCRIPT), "kubectl"], env=environment(out), stdout=subprocess.PIPE, text=True
        )
        assert waiting.stdout is not None
        first_line = waiting.stdout.readline()
    assert first_line.startswith("waiting for Kubernetes (kubectl): another build of it is under way (")
    waiting.communicate(timeout=SCRIPT_TIMEOUT_SECONDS)
    assert waiting.returncode == 0
    assert built(out) == ["kubectl"]
