"""tools/cluster/build-kubernetes.sh builds all Kubernetes binaries or only the ones named, each once.

`make test` builds kubectl alone before the suite (the manifests are rendered with it), and the kind
tier builds the rest later: neither may build a binary the other already built from the same inputs.
The `go` here is a stand-in that records its calls and writes a placeholder binary.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.shell_scripts import GO_BUILD_WRITES_PLACEHOLDERS, run_script, write_tool

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


def build(out: Path, *commands: str, go_version: str = "go1.26.0") -> list[str]:
    """The binaries this run built, in order."""
    calls = out.parent / "calls.txt"
    calls.write_text("")
    environment = {
        "PATH": f"{out.parent / 'fake'}:/usr/bin:/bin",
        "OUT": str(out),
        "CALLS": str(calls),
        "GO_VERSION": go_version,
    }
    result = run_script(SCRIPT, environment, *commands)
    assert result.returncode == 0, result.stderr
    return [
        name
        for line in calls.read_text().splitlines()
        if line.startswith("build ")
        for name in re.findall(r"k8s\.io/kubernetes/cmd/([\w-]+)", line)
    ]


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
