"""``offgridflow-runbook gate`` on the local Docker stack, run as a pipeline runs it (the console
script, its exit code, ``gate.json``), with the three candidates of issue 22: the deployed good tag
(and the older known-good one: a change that passes and stays), a tag the registry lacks (the pull
fails, the rollout never completes: rejected, rolled back), and the build with the defect switch
(ready, but Verification 3 fails: rejected, rolled back, the step named)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker
import pytest

from offgridflow_runbook.platforms.docker.driver import DockerPlatform
from offgridflow_runbook.platforms.docker.names import API, API_REPOSITORY, BROKEN_API_TAG, CURRENT_API_TAG
from offgridflow_runbook.runbook.commands import known_good_tag

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = f"{API_REPOSITORY}:{CURRENT_API_TAG}"
MISSING = f"{API_REPOSITORY}:v0.0.0-not-in-the-registry"
BROKEN = f"{API_REPOSITORY}:{BROKEN_API_TAG}"
# the rollback's Verification 5 waits for the candidate's 5xx to leave the 5-minute error-rate window
GATE_TIMEOUT_S = 1200


def gate(image: str, token: str, reports: Path, *options: str) -> tuple[int, dict[str, Any], str]:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("offgridflow-runbook")), "gate", "--target", "local",
         "--targets-file", str(ROOT / "targets.yaml"), "--image", image, "--reports", str(reports),
         "--checks-dir", str(ROOT / "checks"), *options],
        env={**os.environ, "OFFGRIDFLOW_TOKEN": token}, cwd=ROOT, capture_output=True, text=True,
        timeout=GATE_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert token not in result.stdout + result.stderr
    verdict = json.loads((reports / "gate.json").read_text())
    assert verdict["exit_code"] == result.returncode, result.stdout + result.stderr
    return result.returncode, verdict, result.stdout + result.stderr


def running_image(engine: docker.DockerClient) -> str:
    container = engine.containers.get(API)
    assert container.status == "running"
    return str(container.attrs["Config"]["Image"])


def test_the_deployed_good_tag_passes_and_stays(
    quiet_api: DockerPlatform, token: str, engine: docker.DockerClient, tmp_path: Path
) -> None:
    code, verdict, output = gate(DEPLOYED, token, tmp_path)
    assert code == 0, output
    assert verdict["verdict"] == "passed"
    assert verdict["changed"] is False
    assert running_image(engine) == DEPLOYED
    assert (tmp_path / "junit.xml").exists()
    assert (tmp_path / "report.html").exists()


def test_the_known_good_tag_is_rolled_out_passes_and_stays(
    quiet_api: DockerPlatform, token: str, engine: docker.DockerClient, tmp_path: Path
) -> None:
    older = f"{API_REPOSITORY}:{known_good_tag()}"
    code, verdict, output = gate(older, token, tmp_path)
    assert code == 0, output
    assert (verdict["changed"], verdict["rollout"]["complete"]) == (True, True)
    assert verdict["before"]["image"] == DEPLOYED
    assert running_image(engine) == older  # the candidate stays (the fixture restores afterwards)


def test_a_missing_tag_is_rejected_once_its_pull_fails_for_the_grace_and_rolled_back(
    quiet_api: DockerPlatform, token: str, engine: docker.DockerClient, tmp_path: Path
) -> None:
    code, verdict, output = gate(MISSING, token, tmp_path, "--pull-grace", "10")
    assert code == 1, output
    assert verdict["failed_steps"][0] == "rollout"
    assert verdict["rollout"]["complete"] is False
    assert "the candidate's image cannot be pulled (" in verdict["rollout"]["unpullable"], output
    assert verdict["timings_s"]["rollout"] < 120, "waited far past the grace (the bound is 300 s)"
    assert verdict["rollback"]["passed"] is True, verdict["rollback"]
    assert verdict["rollback"]["image_after"] == DEPLOYED
    assert running_image(engine) == DEPLOYED
    assert quiet_api.rollout_status().complete


def test_a_build_whose_activities_answer_500_becomes_ready_and_is_rejected_at_verification_3(
    quiet_api: DockerPlatform, token: str, engine: docker.DockerClient, tmp_path: Path
) -> None:
    code, verdict, output = gate(BROKEN, token, tmp_path)
    assert code == 1, output
    assert verdict["rollout"]["complete"] is True  # it became ready: only the checks could tell
    assert "Verification 3" in verdict["failed_steps"], verdict["failures"]
    assert "rollout" not in verdict["failed_steps"]
    assert verdict["rollback"]["passed"] is True, verdict["rollback"]
    assert running_image(engine) == DEPLOYED
    assert "failed: Verification 3" in output
