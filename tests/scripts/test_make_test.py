"""scripts/make-test.sh starts the kind toolchain's Go build first, in the background, and never leaves
it running: a lint that fails ends the run at once, and the build under way goes with it.

The `go` here is a stand-in whose builds take long (as a cold toolchain's do) and that records its
PID; `make` is a stand-in for `make venv lint` that fails as a lint finding would.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from helpers.shell_scripts import run_script, write_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "make-test.sh"
SLOW_GO = """#!/bin/sh
case "$1" in
  version) echo "go version go1.26.0 linux/amd64" ;;
  env) echo go1.26.0 ;;
  list) echo v1.34.4 ;;
  mod) printf '{\n\t"Dir": "%s"\n}\n' "$MODULE_DIR" ;;
  build) echo $$ >> "$BUILDS"; sleep 50 ;;
esac
"""
FAILING_LINT = """#!/bin/sh
sleep 1  # the toolchain's first build is under way by now
echo "$*" >> "$MAKE_CALLS"
echo "ruff: 1 error" >&2
exit 2
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    write_tool(tmp_path / "fake" / "go", SLOW_GO)
    write_tool(tmp_path / "fake" / "make", FAILING_LINT)
    # the module CoreDNS's _overlay/ patches, as `go mod download` gives it (the first build is CoreDNS)
    (tmp_path / "module" / "core" / "plugin").mkdir(parents=True)
    (tmp_path / "module" / "core" / "plugin" / "zplugin.go").write_text("package plugin\n")
    return {
        "PATH": f"{tmp_path / 'fake'}:/usr/bin:/bin",
        "MAKE": str(tmp_path / "fake" / "make"),
        "OFFGRIDFLOW_CLUSTER_CACHE": str(tmp_path / "cache"),
        "OFFGRIDFLOW_GO_CANDIDATES": "",
        "BUILDS": str(tmp_path / "builds.txt"),
        "MAKE_CALLS": str(tmp_path / "make-calls.txt"),
        "MODULE_DIR": str(tmp_path / "module"),
    }


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie does not: it only waits for its parent to collect it)."""
    try:
        # the state follows the command's name in parentheses, which may hold blanks
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:  # gone, or going while it is read (ESRCH): fresh-clone run 36 read one that was
        return False
    return state != "Z"


def test_a_failing_lint_ends_the_run_and_stops_the_toolchain_build_under_way(env: dict[str, str]) -> None:
    started = time.monotonic()
    result = run_script(SCRIPT, env)
    took = time.monotonic() - started

    assert result.returncode == 2
    assert Path(env["MAKE_CALLS"]).read_text().split() == ["--no-print-directory", "venv", "lint"]
    builds = [int(pid) for pid in Path(env["BUILDS"]).read_text().split()]
    assert builds, "the toolchain build had not started beside the lint"
    assert "[toolchain] building coredns" in result.stdout
    assert "[toolchain] stopped: make test is ending" in result.stdout
    assert took < 40, "make-test.sh waited for the toolchain build instead of stopping it"
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in builds) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in builds), "a go build of the toolchain was left running"


def test_with_a_node_image_given_no_toolchain_is_built(env: dict[str, str]) -> None:
    result = run_script(SCRIPT, {**env, "KIND_NODE_IMAGE": "kindest/node:v1.34.0"})

    assert result.returncode == 2
    assert not Path(env["BUILDS"]).exists()
    assert "[toolchain]" not in result.stdout
