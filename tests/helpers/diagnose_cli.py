"""Running ``offgridflow-runbook diagnose --json`` as a user does: the console script, its exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_diagnose(
    target: str, targets_file: Path, env: dict[str, str], *options: str
) -> tuple[int, dict[str, Any], str]:
    """Exit code, the JSON diagnosis and stderr; ``env`` is added to this process's environment,
    ``options`` to the command line."""
    script = Path(sys.executable).with_name("offgridflow-runbook")
    result = subprocess.run(
        [
            str(script),
            "diagnose",
            "--target",
            target,
            "--targets-file",
            str(targets_file),
            "--json",
            *options,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, json.loads(result.stdout), result.stderr
