"""scripts/kind-up.sh refuses a machine that lacks a prerequisite with one clear line, before it
changes anything. (What it builds and deploys is proven on the real cluster by tests/kind.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.deploy_files import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "kind-up.sh"
RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$CALLS"
exit ${EXIT_CODE:-0}
"""


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A PATH folder of recording stand-ins; each test removes or breaks the one it is about."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("docker", "go", "python"):
        tool = folder / name
        tool.write_text(RECORDER)
        tool.chmod(0o755)
    # The few host tools the script needs before its checks; nothing else of the host is on PATH.
    # (awk, sed, sort and id for scripts/ensure-go.sh, which kind-up runs with bash to find Go)
    for name in ("bash", "dirname", "basename", "grep", "cat", "head", "tail", "awk", "sed", "sort", "id"):
        (folder / name).symlink_to(shutil.which(name) or f"/usr/bin/{name}")
    return folder


def run_kind_up(tools: Path, tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], str]:
    calls = tmp_path / "calls.txt"
    calls.touch()
    environment = {
        "PATH": str(tools),
        "HOME": str(tmp_path),
        "CALLS": str(calls),
        "PYTHON": str(tools / "python"),
        "OFFGRIDFLOW_CLUSTER_CACHE": str(tmp_path / "cache"),
        # only the stand-in go counts: a real Go elsewhere on this machine would start a real build
        "OFFGRIDFLOW_GO_CANDIDATES": "",
        **extra,
    }
    result = subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )
    return result, calls.read_text()


def test_without_docker_kind_up_names_the_missing_engine_and_changes_nothing(
    tools: Path, tmp_path: Path
) -> None:
    (tools / "docker").unlink()
    result, calls = run_kind_up(tools, tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: docker is not installed: run make system-deps"
    assert calls == ""


@pytest.mark.parametrize("rollout_timeout", ["5x", "m", "0s", "1.5m", "-5m"])
def test_a_rollout_timeout_that_is_no_time_is_one_line_before_anything_runs(
    tools: Path, tmp_path: Path, rollout_timeout: str
) -> None:
    # kind-up's own waits (the outlived pods) take it in seconds, kubectl as it is given
    result, calls = run_kind_up(tools, tmp_path, ROLLOUT_TIMEOUT=rollout_timeout)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: ROLLOUT_TIMEOUT={rollout_timeout}: give a time above 0, e.g. 300s, 5m or 1h30m"
    ]
    assert calls == ""


@pytest.mark.parametrize("rollout_timeout", ["300s", "5m", "1h30m", "90"])
def test_a_rollout_timeout_kubectl_takes_is_accepted(
    tools: Path, tmp_path: Path, rollout_timeout: str
) -> None:
    result, _ = run_kind_up(tools, tmp_path, ROLLOUT_TIMEOUT=rollout_timeout, EXIT_CODE="1")
    assert "ROLLOUT_TIMEOUT" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: the Docker Engine does not answer (docker info failed): run make system-deps"
    ]


def test_with_the_engine_down_kind_up_says_so_in_one_line(tools: Path, tmp_path: Path) -> None:
    result, calls = run_kind_up(tools, tmp_path, EXIT_CODE="1")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: the Docker Engine does not answer (docker info failed): run make system-deps"
    ]
    assert calls.splitlines() == ["docker info"]


def test_without_go_and_without_a_node_image_kind_up_says_how_to_get_one(tools: Path, tmp_path: Path) -> None:
    (tools / "go").unlink()
    result, _ = run_kind_up(tools, tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: Go ")
    assert (
        "is needed for the offline node image (or set KIND_NODE_IMAGE to a node image you can pull)" in line
    )
    assert "Traceback" not in result.stderr


def test_with_a_node_image_but_no_kind_binary_kind_up_never_downloads_one(
    tools: Path, tmp_path: Path
) -> None:
    result, calls = run_kind_up(tools, tmp_path, KIND_NODE_IMAGE="kindest/node:v1.34.0")
    assert result.returncode == 2
    assert "no kind binary" in result.stderr
    assert "curl" not in calls
    assert "wget" not in calls


# An existing cluster: kind lists it until `kind delete`; its node runs when $NODE_RUNNING says so (or
# after `docker start`), from an image of node generation $RUNNING_GENERATION (the image kind-up
# would use: $IMAGE_GENERATION; empty: no label); /readyz answers from the $READYZ_AFTER-th question
# on (-1: never). Anything past the cluster's decision (the registry's image) fails, which ends the
# script there.
EXISTING_KIND = """#!/bin/sh
echo "kind $*" >> "$CALLS"
case "$*" in
  "get clusters") [ -f "$STATE/deleted" ] || echo offgridflow ;;
  delete*) touch "$STATE/deleted" ;;
esac
"""
EXISTING_DOCKER = """#!/bin/sh
echo "docker $*" >> "$CALLS"
case "$*" in
  info) ;;
  "inspect -f {{.State.Running}} offgridflow-control-plane")
    if [ "$NODE_RUNNING" = true ] || [ -f "$STATE/started" ]; then echo true; else echo false; fi ;;
  "inspect offgridflow-control-plane") ;;
  "start offgridflow-control-plane") touch "$STATE/started" ;;
  "inspect -f {{.Image}} offgridflow-control-plane") echo sha256:running ;;
  "image inspect -f "*"offgridflow.node-generation.why"*) echo "$GENERATION_WHY" ;;
  "image inspect -f "*"offgridflow.node-generation"*" sha256:running") echo "$RUNNING_GENERATION" ;;
  "image inspect -f "*"offgridflow.node-generation"*) echo "$IMAGE_GENERATION" ;;
  *) exit 1 ;;
esac
"""
EXISTING_KUBECTL = """#!/bin/sh
echo "kubectl $*" >> "$CALLS"
echo x >> "$STATE/asked"
asked=$(wc -l < "$STATE/asked")
[ "$READYZ_AFTER" -ge 0 ] && [ "$asked" -gt "$READYZ_AFTER" ]
"""


def existing_cluster(tools: Path, tmp_path: Path, **extra: str) -> tuple[list[str], str]:
    """kind-up's lines about an existing cluster, and the commands it ran."""
    for name, text in (("kind", EXISTING_KIND), ("docker", EXISTING_DOCKER), ("kubectl", EXISTING_KUBECTL)):
        (tools / name).write_text(text)
        (tools / name).chmod(0o755)
    for name in ("sleep", "wc", "touch", "mkdir"):
        (tools / name).symlink_to(shutil.which(name) or f"/usr/bin/{name}")
    state = tmp_path / "state"
    state.mkdir()
    result, calls = run_kind_up(
        tools,
        tmp_path,
        KIND_NODE_IMAGE="offgridflow/kind-node:test",
        KIND=str(tools / "kind"),
        KUBECTL=str(tools / "kubectl"),
        KUBECONFIG_OUT=str(tmp_path / "kind" / "offgridflow.kubeconfig"),
        STATE=str(state),
        **{"NODE_RUNNING": "true", "READYZ_AFTER": "0", **extra},
    )
    return [line for line in result.stdout.splitlines() if "cluster offgridflow" in line], calls


def test_a_restarted_node_gets_time_to_answer_and_the_cluster_is_reused(tools: Path, tmp_path: Path) -> None:
    lines, calls = existing_cluster(tools, tmp_path, READYZ_AFTER="2")
    assert [line.split("] ", 1)[1] for line in lines] == [
        "cluster offgridflow does not answer /readyz yet: waiting up to 120s for its node to come back",
        "cluster offgridflow answers /readyz again",
        "reusing kind cluster offgridflow",
    ]
    assert "kind delete" not in calls
    assert calls.count("--raw=/readyz") == 3


def test_a_stopped_node_is_started_not_deleted(tools: Path, tmp_path: Path) -> None:
    lines, calls = existing_cluster(tools, tmp_path, NODE_RUNNING="false")
    assert [line.split("] ", 1)[1] for line in lines] == [
        "cluster offgridflow: its node offgridflow-control-plane was stopped and is started again",
        "reusing kind cluster offgridflow",
    ]
    assert "docker start offgridflow-control-plane" in calls
    assert "kind delete" not in calls


def test_a_cluster_that_does_not_come_back_is_recreated_saying_what_is_lost(
    tools: Path, tmp_path: Path
) -> None:
    lines, calls = existing_cluster(tools, tmp_path, READYZ_AFTER="-1", KIND_NODE_BACK_SECONDS="1")
    said = [line.split("] ", 1)[1] for line in lines]
    assert said[-2:] == [
        "cluster offgridflow does not answer /readyz within 1s: deleting it to create it again; lost: the "
        "database's rows and everything deployed in the cluster (the registry's images stay)",
        "creating kind cluster offgridflow from offgridflow/kind-node:test",
    ]
    assert "kind delete cluster --name offgridflow" in calls
    assert "kind create cluster" in calls


def test_a_node_older_than_the_images_generation_is_recreated_saying_why_and_what_is_lost(
    tools: Path, tmp_path: Path
) -> None:
    lines, calls = existing_cluster(
        tools, tmp_path, IMAGE_GENERATION="2", GENERATION_WHY="generation 2: the cgroupfs driver"
    )
    said = [line.split("] ", 1)[1] for line in lines]
    # an unlabelled node (made before generations were counted) is generation 1
    assert said[-2:] == [
        "cluster offgridflow runs node generation 1, older than offgridflow/kind-node:test's 2 "
        "(generation 2: the cgroupfs driver): deleting it to create it again; lost: the database's rows "
        "and everything deployed in the cluster (the registry's images stay)",
        "creating kind cluster offgridflow from offgridflow/kind-node:test",
    ]
    assert "kind delete cluster --name offgridflow" in calls


@pytest.mark.parametrize(("running", "image"), [("2", "2"), ("3", "2"), ("", ""), ("2", "")])
def test_a_node_of_the_images_generation_or_newer_is_reused(
    tools: Path, tmp_path: Path, running: str, image: str
) -> None:
    lines, calls = existing_cluster(tools, tmp_path, RUNNING_GENERATION=running, IMAGE_GENERATION=image)
    assert [line.split("] ", 1)[1] for line in lines] == ["reusing kind cluster offgridflow"]
    assert "kind delete" not in calls
