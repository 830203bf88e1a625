"""scripts/ensure-go.sh picks, fetches or names the way to a Go new enough for tools/cluster.

Every `go`, `apt-cache`, `apt-get` and `id` here is a stand-in that records its calls: nothing is
downloaded or installed. PATH holds only the stand-ins and the few host tools the script uses.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from helpers.shell_scripts import link_host_tools, run_script, write_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "ensure-go.sh"
HOST_TOOLS = ("dirname", "awk", "sort", "head", "tail", "sed", "grep", "id")

# A go that answers `version` with its version and, asked for GOROOT with GOTOOLCHAIN=goX, either
# names the fetched toolchain's root (FETCH) or fails as an unreachable proxy does.
FAKE_GO = """#!/bin/sh
echo "GOTOOLCHAIN=${{GOTOOLCHAIN:-}} $*" >> "$CALLS"
case "$1" in
  version) echo "go version go{version} linux/amd64" ;;
  env)
    if [ "${{GOTOOLCHAIN:-local}}" = local ]; then echo /fake/goroot; exit 0; fi
    {fetch}
    ;;
esac
"""
FETCH_FAILS = (
    'echo "go: downloading $GOTOOLCHAIN (linux/amd64)" >&2; '
    'echo "go: download $GOTOOLCHAIN: dial tcp: connection refused" >&2; exit 1'
)
RECORDER = """#!/bin/sh
echo "${{0##*/}} $*" >> "$CALLS"
{body}
"""


def required_go() -> str:
    """The highest `go` line of tools/cluster's go.mod files, as X.Y.Z (what the script must find)."""
    versions = []
    for go_mod in (REPO_ROOT / "tools" / "cluster").glob("*/go.mod"):
        for line in go_mod.read_text(encoding="utf-8").splitlines():
            match = re.fullmatch(r"go (\d+)\.(\d+)(?:\.(\d+))?", line.strip())
            if match:
                versions.append(tuple(int(part or 0) for part in match.groups()))
    assert versions, "no go line in tools/cluster/*/go.mod"
    return ".".join(map(str, max(versions)))


NEED = required_go()


def fake_go(path: Path, version: str, fetch: str = FETCH_FAILS) -> Path:
    return write_tool(path, FAKE_GO.format(version=version, fetch=fetch))


def fetchable_toolchain(tmp_path: Path) -> str:
    """The fetch answer of a fake go: a toolchain root whose go is exactly the required version."""
    root = tmp_path / "modcache" / f"golang.org/toolchain@v0.0.1-go{NEED}.linux-amd64"
    fake_go(root / "bin" / "go", NEED)
    return f'echo "go: downloading $GOTOOLCHAIN (linux/amd64)" >&2; echo {root}'


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    return link_host_tools(tmp_path / "bin", HOST_TOOLS)


def run(bin_dir: Path, tmp_path: Path, candidates: str = "") -> tuple[subprocess.CompletedProcess[str], str]:
    calls = tmp_path / "calls.txt"
    calls.touch()
    environment = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "CALLS": str(calls),
        "OFFGRIDFLOW_GO_CANDIDATES": candidates,
    }
    return run_script(SCRIPT, environment), calls.read_text()


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line (progress lines start with `ensure-go:`)."""
    (line,) = [line for line in result.stderr.splitlines() if not line.startswith("ensure-go: ")]
    assert line.startswith("error: "), result.stderr
    return line


def apt(bin_dir: Path, packages: str, candidate: str = "1.23.5-1~bpo12+1") -> None:
    """apt-cache that offers `packages` (pkgnames) with `candidate`; apt-get that only records."""
    write_tool(
        bin_dir / "apt-cache",
        RECORDER.format(
            body=f"""case "$1" in
  pkgnames) printf '%s\\n' {packages} ;;
  policy) echo "$2:"; echo "  Installed: (none)"; echo "  Candidate: {candidate}" ;;
esac"""
        ),
    )
    write_tool(bin_dir / "apt-get", RECORDER.format(body="exit 0"))


def user(bin_dir: Path, uid: int) -> None:
    (bin_dir / "id").unlink()
    write_tool(bin_dir / "id", f"#!/bin/sh\necho {uid}\n")


@pytest.mark.parametrize("version", [NEED, "1.26.0", "1.30rc1"])
def test_a_new_enough_go_on_path_is_used_as_it_is(bin_dir: Path, tmp_path: Path, version: str) -> None:
    go = fake_go(bin_dir / "go", version)
    result, calls = run(bin_dir, tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"{go}\n", "")
    assert "GOTOOLCHAIN=go" not in calls


def test_the_newest_candidate_wins_over_an_older_go_on_path(bin_dir: Path, tmp_path: Path) -> None:
    fake_go(bin_dir / "go", "1.19.8")
    newer = fake_go(tmp_path / "lib" / "go-1.25" / "bin" / "go", "1.25.1")
    result, _ = run(bin_dir, tmp_path, candidates=str(tmp_path / "lib" / "go-1.*" / "bin" / "go"))
    assert (result.returncode, result.stdout) == (0, f"{newer}\n")


@pytest.mark.parametrize("version", ["1.21.0", "1.22.5", "1.24.0", "1.24rc2"])
def test_a_go_that_can_fetch_gets_exactly_the_required_toolchain(
    bin_dir: Path, tmp_path: Path, version: str
) -> None:
    fake_go(bin_dir / "go", version, fetch=fetchable_toolchain(tmp_path))
    result, calls = run(bin_dir, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{tmp_path}/modcache/golang.org/toolchain@v0.0.1-go{NEED}.linux-amd64/bin/go\n"
    assert f"GOTOOLCHAIN=go{NEED} env GOROOT" in calls.splitlines()


def test_a_failed_fetch_stops_with_one_line_naming_the_cause(bin_dir: Path, tmp_path: Path) -> None:
    fake_go(bin_dir / "go", "1.22.5")
    result, _ = run(bin_dir, tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    line = error_line(result)
    assert f"cannot fetch Go {NEED} with {bin_dir / 'go'}" in line
    assert "connection refused" in line
    assert f"install Go {NEED}+" in line


def test_no_go_and_no_apt_names_what_to_install(bin_dir: Path, tmp_path: Path) -> None:
    result, _ = run(bin_dir, tmp_path)
    assert result.returncode == 1
    assert error_line(result) == (
        f"error: Go {NEED}+ is needed to build tools/cluster (found: none): "
        f"install Go {NEED} or newer and put it on PATH"
    )


def test_a_go_too_old_to_fetch_without_a_package_names_the_backports_command(
    bin_dir: Path, tmp_path: Path
) -> None:
    old = fake_go(bin_dir / "go", "1.19.8")
    apt(bin_dir, packages="golang-1.19-go")
    result, calls = run(bin_dir, tmp_path)
    assert result.returncode == 1
    line = error_line(result)
    assert f"(found: go1.19.8 at {old}, too old to fetch a toolchain (< 1.21.0))" in line
    assert re.search(r"apt-get update && apt-get install -y -t \w+-backports golang-go$", line), line
    assert "GOTOOLCHAIN=go" not in calls
    assert "apt-get" not in calls


def test_not_root_with_a_package_names_the_install_command(bin_dir: Path, tmp_path: Path) -> None:
    apt(bin_dir, packages="golang-1.19-go golang-1.22-go golang-1.23-go")
    user(bin_dir, 1000)
    result, calls = run(bin_dir, tmp_path)
    assert result.returncode == 1
    assert error_line(result).endswith("as root run apt-get install -y golang-1.23-go, then run this again")
    assert "apt-get" not in calls


def test_as_root_the_package_is_installed_and_then_fetches(bin_dir: Path, tmp_path: Path) -> None:
    apt(bin_dir, packages="golang-1.23-go")
    user(bin_dir, 0)
    # apt-get "installs" golang-1.23-go: a go 1.23 appears where Debian puts it (a candidate glob)
    installed = tmp_path / "lib" / "go-1.23" / "bin" / "go"
    template = fake_go(tmp_path / "template-go", "1.23.5", fetch=fetchable_toolchain(tmp_path))
    write_tool(
        bin_dir / "apt-get",
        RECORDER.format(body=f"/bin/mkdir -p {installed.parent} && /bin/cp {template} {installed}"),
    )
    result, calls = run(bin_dir, tmp_path, candidates=str(tmp_path / "lib" / "go-1.*" / "bin" / "go"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(f"toolchain@v0.0.1-go{NEED}.linux-amd64/bin/go\n")
    assert "apt-get install -y -qq --no-install-recommends golang-1.23-go" in calls.splitlines()
    assert f"GOTOOLCHAIN=go{NEED} env GOROOT" in calls.splitlines()
