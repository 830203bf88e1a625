"""``diagnose`` on the real Docker stack, run as a user runs it (the console script, exit code, JSON).

The game day seeds OOM, database, image pull and configuration failures for real and asserts the
diagnosis of each; these are the states it does not seed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers.diagnose_cli import run_diagnose
from offgridflow_runbook.platforms.docker.driver import DockerPlatform
from offgridflow_runbook.probes import record
from offgridflow_runbook.runbook.triage import decide

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def diagnose(token: str) -> tuple[int, dict[str, Any]]:
    code, diagnosis, _ = run_diagnose("local", ROOT / "targets.yaml", {"OFFGRIDFLOW_TOKEN": token})
    return code, diagnosis


def test_a_healthy_stack_is_diagnosed_healthy(quiet_api: DockerPlatform, token: str):
    code, diagnosis = diagnose(token)
    assert (code, diagnosis["cause"], diagnosis["section"]) == (0, "healthy", "none")


def test_memory_held_near_the_limit_is_resource_exhaustion_naming_fix_2(
    quiet_api: DockerPlatform, token: str
):
    # Up to 95% of the limit: above the 90% line, below the OOM kill. What the API already uses
    # grows over a long run, so the assault is sized from the usage read now, not a fixed figure.
    (usage,) = quiet_api.resource_usage()
    assert usage.memory_limit_bytes, usage
    mib = int((0.95 * usage.memory_limit_bytes - usage.memory_bytes) / 2**20)
    answer = httpx.post(
        "http://127.0.0.1:8080/chaos/assaults/memory",
        params={"mib": mib, "hold_seconds": 20},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    code, diagnosis = diagnose(token)
    assert (code, diagnosis["cause"], diagnosis["section"]) == (2, "resources", "Fix 2"), diagnosis
    assert "memory at" in diagnosis["summary"]
    assert any("2Gi" in command for command in diagnosis["commands"])
    (workload,) = quiet_api.api_workloads()
    assert workload.restart_count == 0  # held, not killed

    # The assault holds 20 s; then the memory is returned and the next look is an all-clear again.
    last: list[dict[str, Any]] = []

    def released() -> bool:
        code, diagnosis = diagnose(token)
        last[:] = [diagnosis]
        return code == 0

    deadline = time.monotonic() + 90
    while not released():
        assert time.monotonic() < deadline, f"the assault's memory was not released within 90 s: {last}"
        time.sleep(2)


def test_a_recorded_look_at_the_real_stack_reads_back_healthy(
    quiet_api: DockerPlatform, token: str, tmp_path: Path
):
    saved = tmp_path / "look.json"
    code, _, _ = run_diagnose(
        "local", ROOT / "targets.yaml", {"OFFGRIDFLOW_TOKEN": token}, "--record", str(saved)
    )
    assert code == 0
    observations, raw = record.load(saved)
    assert decide(observations).outcome == "healthy"
    assert raw["target"]["token_set"] is True
    assert token not in saved.read_text()
