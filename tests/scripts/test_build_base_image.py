"""scripts/build-base-image.sh pulls the base image only when a pull can succeed, and otherwise goes
straight to building it (here: to the missing-debootstrap error, where the build would start).

`docker` is a stand-in that records its calls; `debootstrap` is absent, so nothing is built."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from helpers.shell_scripts import link_host_tools, run_script, write_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "build-base-image.sh"
HOST_TOOLS = ("timeout", "sleep", "cat")
FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$CALLS"
case "$1" in
  image) exit 1 ;;
  info) echo "$DOCKER_INFO" ;;
  search) [ -n "$SEARCH_HANGS" ] && exec sleep 60; exit "${SEARCH_EXIT:-1}" ;;
  pull) exit "${PULL_EXIT:-0}" ;;
esac
"""


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = link_host_tools(tmp_path / "bin", HOST_TOOLS)
    write_tool(folder / "docker", FAKE_DOCKER)
    return folder


def run(bin_dir: Path, tmp_path: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    calls = tmp_path / "calls.txt"
    calls.touch()
    result = run_script(SCRIPT, {"PATH": str(bin_dir), "CALLS": str(calls), "DOCKER_INFO": "", **extra})
    return result, calls.read_text().splitlines()


def pulled(calls: list[str]) -> bool:
    return any(call.startswith("docker pull") for call in calls)


def test_offline_never_asks_any_registry(bin_dir: Path, tmp_path: Path) -> None:
    result, calls = run(bin_dir, tmp_path, OFFGRIDFLOW_OFFLINE="1")
    assert "not pulling debian:bookworm-slim: OFFGRIDFLOW_OFFLINE=1" in result.stdout
    assert calls == ["docker image inspect debian:bookworm-slim"]
    assert result.stderr.strip() == (
        "error: debian:bookworm-slim was not pulled and debootstrap is missing: apt-get install debootstrap"
    )


@pytest.mark.parametrize(
    "setting",
    [{"GITHUB_ACTIONS": "true"}, {"DOCKER_INFO": "https://mirror.example.internal/"}],
    ids=["github-actions", "registry-mirror"],
)
def test_a_machine_that_can_pull_pulls(bin_dir: Path, tmp_path: Path, setting: dict[str, str]) -> None:
    result, calls = run(bin_dir, tmp_path, **setting)
    assert (result.returncode, result.stdout.strip()) == (0, "pulled debian:bookworm-slim")
    assert "docker pull -q debian:bookworm-slim" in calls
    assert not any(call.startswith("docker search") for call in calls)


def test_without_a_mirror_a_registry_that_answers_is_pulled_from(bin_dir: Path, tmp_path: Path) -> None:
    result, calls = run(bin_dir, tmp_path, SEARCH_EXIT="0")
    assert result.returncode == 0
    assert pulled(calls)


def test_a_registry_that_refuses_is_not_pulled_from(bin_dir: Path, tmp_path: Path) -> None:
    result, calls = run(bin_dir, tmp_path, SEARCH_EXIT="1")
    assert not pulled(calls)
    assert "its registry does not answer within 8 s" in result.stdout
    assert "debootstrap is missing" in result.stderr


def test_a_registry_that_never_answers_costs_the_probe_only(bin_dir: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    result, calls = run(bin_dir, tmp_path, SEARCH_HANGS="1", OFFGRIDFLOW_PULL_PROBE_SECONDS="1")
    assert time.monotonic() - started < 10  # the probe's second, not the pull's time-out
    assert "its registry does not answer within 1 s" in result.stdout
    assert not pulled(calls)
    assert "debootstrap is missing" in result.stderr


def test_a_failed_pull_falls_back_to_building(bin_dir: Path, tmp_path: Path) -> None:
    result, _ = run(bin_dir, tmp_path, GITHUB_ACTIONS="true", PULL_EXIT="1")
    assert "pulling debian:bookworm-slim failed: building it instead" in result.stdout
    assert "debootstrap is missing" in result.stderr
