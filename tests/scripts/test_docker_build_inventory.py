"""scripts/lib/docker-build.sh: every image `build` makes gets its Debian package inventory beside it,
in the format environments/local/inventory.py reads (`docker` is a stand-in that records its calls)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from helpers.shell_scripts import link_host_tools, run_recorded, write_tool
from offgridflow_runbook.environments.local.inventory import Inventory, inventory_path

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBRARY = REPO_ROOT / "scripts" / "lib" / "docker-build.sh"
HOST_TOOLS = ("mktemp", "cat", "rm", "mkdir", "mv", "sort", "tr", "grep")
FAKE_DOCKER = r"""#!/bin/sh
echo "docker $*" >> "$CALLS"
case "$1" in
  build) exit "${BUILD_EXIT:-0}" ;;
  image) echo "sha256:$(printf '%s' "$5" | tr -c 'a-z0-9' 'x')" ;;
  run)
    case "$*" in *scratch*) echo "exec: dpkg-query: executable file not found" >&2; exit 127 ;; esac
    [ -n "$DPKG_EXIT" ] && exit "$DPKG_EXIT"
    printf 'zlib1g\t1:1.2.13.dfsg-1\nbash\t5.2.15-2+b7\nbase-files\t12.4+deb12u8\n' ;;
esac
"""
DRIVER = """set -euo pipefail
fail() { echo "error: $*" >&2; exit 2; }
source "$LIBRARY"
build "$@"
"""


def run(tmp_path: Path, *args: str, **extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    if not bin_dir.exists():  # a second run in the same test reuses the tools
        link_host_tools(bin_dir, HOST_TOOLS)
        write_tool(bin_dir / "docker", FAKE_DOCKER)
    driver = tmp_path / "driver.sh"
    driver.write_text(DRIVER)
    inventories = {"OFFGRIDFLOW_INVENTORY_DIR": str(tmp_path / "inventories"), "TMPDIR": str(tmp_path)}
    return run_recorded(driver, bin_dir, tmp_path, {"LIBRARY": str(LIBRARY), **inventories, **extra}, *args)


def test_each_tag_built_gets_its_sorted_inventory_from_a_container_without_network(tmp_path: Path) -> None:
    result, calls = run(
        tmp_path, "--network", "host", "-t", "offgridflow.local/kind/alertmanager-debian:0.25", "."
    )
    assert result.returncode == 0, result.stderr
    reference = "offgridflow.local/kind/alertmanager-debian:0.25"
    inventory = Inventory.parse(inventory_path(reference, tmp_path / "inventories").read_text())
    assert inventory.reference == reference
    assert inventory.image_id.startswith("sha256:")
    assert inventory.packages == {
        "base-files": "12.4+deb12u8",
        "bash": "5.2.15-2+b7",
        "zlib1g": "1:1.2.13.dfsg-1",
    }
    run_call = next(call for call in calls if call.startswith("docker run "))
    assert "--rm --network none" in run_call
    assert "--entrypoint dpkg-query" in run_call


def test_an_image_from_scratch_says_it_has_no_debian_packages(tmp_path: Path) -> None:
    result, _ = run(tmp_path, "--tag=offgridflow.local/kind/scratch-pause:1.0", ".")
    assert result.returncode == 0, result.stderr
    text = inventory_path("offgridflow.local/kind/scratch-pause:1.0", tmp_path / "inventories").read_text()
    assert Inventory.parse(text).packages is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"BUILD_EXIT": "1"}, "docker build failed"), ({"DPKG_EXIT": "1"}, "dpkg-query in")],
)
def test_a_failed_build_or_inventory_stops_the_script(
    tmp_path: Path, extra: dict[str, str], message: str
) -> None:
    result, _ = run(tmp_path, "-t", "img:1", ".", **extra)
    assert result.returncode == 2
    assert message in result.stderr
    assert not list((tmp_path / "inventories").glob("*.dpkg"))  # no inventory of a failed build


def test_an_image_the_cache_gave_again_keeps_its_inventory_without_running_it(tmp_path: Path) -> None:
    first, calls = run(tmp_path, "-t", "img:1", ".")
    assert first.returncode == 0, first.stderr
    assert any(call.startswith("docker run ") for call in calls)
    again, calls_again = run(tmp_path, "-t", "img:1", ".")  # the same ID from the stand-in
    assert again.returncode == 0, again.stderr
    runs = [call for call in calls_again[len(calls) :] if call.startswith("docker run ")]
    assert runs == []


def test_build_leaves_the_callers_variables_alone(tmp_path: Path) -> None:
    # kind-up.sh builds inside `for tag in ...` and pushes "$repository:$tag" after each build: a
    # `tag` that build() did not keep local came back as the whole image reference
    bin_dir = tmp_path / "bin"
    link_host_tools(bin_dir, HOST_TOOLS)
    write_tool(bin_dir / "docker", FAKE_DOCKER)
    driver = tmp_path / "caller.sh"
    driver.write_text(
        'set -euo pipefail\nfail() { echo "error: $*" >&2; exit 2; }\nsource "$LIBRARY"\n'
        'for tag in v1 v2; do build -t "repo:$tag" . ; echo "after: $tag"; done\n'
        'argument=kept; build -t repo:v3 .; echo "argument: $argument"\n'
    )
    environment = {
        "LIBRARY": str(LIBRARY),
        "OFFGRIDFLOW_INVENTORY_DIR": str(tmp_path / "inv"),
        "TMPDIR": str(tmp_path),
    }
    result, _ = run_recorded(driver, bin_dir, tmp_path, environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["after: v1", "after: v2", "argument: kept"]
