"""The command's start-up: httpx's own command-line client is not imported until it is used."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_the_command_imports_httpx_without_its_command_line_client() -> None:
    loaded = run(
        "import sys, offgridflow_runbook.cli as cli; cli.build_parser(); import httpx;"
        "print('httpx' in sys.modules, 'click' in sys.modules, 'rich' in sys.modules)"
    )
    assert loaded == "True False False"


def test_httpx_main_still_loads_the_real_client_when_called() -> None:
    # `httpx --help` through the stand-in: the real client answers (and exits 0)
    out = run(
        "import sys, offgridflow_runbook.cli, httpx\n"
        "sys.argv = ['httpx', '--help']\n"
        "try:\n    httpx.main()\nexcept SystemExit as e:\n    print('exit', e.code)"
    )
    assert "Usage: httpx" in out
    assert out.endswith("exit 0")
