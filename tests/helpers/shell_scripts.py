"""Running the project's shell scripts against stand-in tools: a PATH folder holding only the host
tools a script needs (links) beside the fakes a test writes, and one way to run the script."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

SCRIPT_TIMEOUT_SECONDS = 60
# The `build)` branch of a stand-in `go` (a shell `case "$1"`): writes a placeholder binary where
# `go build` would, to the -o file, or with -o a folder (ending in /) one per package named.
GO_BUILD_WRITES_PLACEHOLDERS = """\
    shift
    while [ $# -gt 0 ]; do
      case "$1" in
        -o) out="$2"; shift ;;
        -*) ;;
        *) packages="$packages $1" ;;
      esac
      shift
    done
    case "$out" in
      */) for package in $packages; do
            echo built > "$out${package##*/}"; chmod +x "$out${package##*/}"
          done ;;
      *) echo built > "$out"; chmod +x "$out" ;;
    esac ;;
"""


def link_host_tools(folder: Path, names: Iterable[str]) -> Path:
    """Link each named host tool into ``folder`` (made if missing), so a PATH of it has just those."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).symlink_to(shutil.which(name) or f"/usr/bin/{name}")
    return folder


def write_tool(path: Path, text: str) -> Path:
    """An executable stand-in at ``path`` (its folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def run_script(script: Path, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``bash script args...`` with exactly ``env``, its output captured; never left running."""
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(script), *args],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_SECONDS,
        env=dict(env),
        check=False,
    )


def run_recorded(
    script: Path, bin_dir: Path, tmp_path: Path, env: Mapping[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """``run_script`` with PATH ``bin_dir`` only and ``$CALLS`` a file the stand-in tools append
    their calls to; returns the result and those calls."""
    calls = tmp_path / "calls.txt"
    calls.touch()
    result = run_script(script, {"PATH": str(bin_dir), "CALLS": str(calls), **env}, *args)
    return result, calls.read_text().splitlines()
