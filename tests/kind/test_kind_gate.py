"""``offgridflow-runbook gate`` on the kind cluster, run as a pipeline runs it, with the three
candidates of issue 22: the deployed good tag (passes, stays), a tag the cluster's registry lacks
(ImagePullBackOff, the rollout never completes: rejected, ``rollout undo``), and the build with the
defect switch (ready, but Verification 3 fails: rejected, rolled back, the step named). The
Deployment is put back on the deployed tag afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.kind_pods import settled
from offgridflow_runbook.platforms import Platform, platform_for
from offgridflow_runbook.platforms.docker.names import BROKEN_API_TAG, CURRENT_API_TAG

pytestmark = pytest.mark.kind

ROOT = Path(__file__).resolve().parents[2]
# the overlay's image (ghcr.io/your-org/offgridflow-api), which the nodes pull from the cluster's registry
REPOSITORY = "ghcr.io/your-org/offgridflow-api"
DEPLOYED = f"{REPOSITORY}:{CURRENT_API_TAG}"
MISSING = f"{REPOSITORY}:v0.0.0-not-in-the-registry"
BROKEN = f"{REPOSITORY}:{BROKEN_API_TAG}"  # pushed by make kind-up beside the deployed tags
ROLLOUT_S = 240
GATE_TIMEOUT_S = 1200  # the rollback's Verification 5 waits out the candidate's 5xx (5-minute window)


@pytest.fixture(scope="module")
def kind_platform(kind_session: Any) -> Iterator[Platform]:
    platform = platform_for(kind_session.target(ROOT / "targets.yaml"))
    platform.wait_rollout(timeout=ROLLOUT_S)
    assert images(platform) == {DEPLOYED}, "the overlay no longer deploys the tag these candidates assume"
    yield platform
    platform.set_image(DEPLOYED)
    platform.wait_rollout(timeout=ROLLOUT_S)
    platform.close()


def gate(image: str, reports: Path, *options: str) -> tuple[int, dict[str, Any], str]:
    token = os.environ["OFFGRIDFLOW_TOKEN"]  # set by the kind session
    result = subprocess.run(
        [str(Path(sys.executable).with_name("offgridflow-runbook")), "gate", "--target", "kind",
         "--targets-file", str(ROOT / "targets.yaml"), "--image", image, "--reports", str(reports),
         "--checks-dir", str(ROOT / "checks"), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=GATE_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert token not in result.stdout + result.stderr
    verdict = json.loads((reports / "gate.json").read_text())
    assert verdict["exit_code"] == result.returncode, result.stdout + result.stderr
    return result.returncode, verdict, result.stdout + result.stderr


def images(platform: Platform) -> set[str]:
    return {pod.image for pod in settled(platform)}


def test_the_deployed_good_tag_passes_and_stays(kind_platform: Platform, tmp_path: Path) -> None:
    code, verdict, output = gate(DEPLOYED, tmp_path)
    assert code == 0, output
    assert verdict["verdict"] == "passed"
    assert images(kind_platform) == {DEPLOYED}
    assert (tmp_path / "junit.xml").exists()
    assert (tmp_path / "report.html").exists()


def test_a_missing_tag_is_rejected_once_the_kubelet_cannot_pull_it_and_rolled_back_with_rollout_undo(
    kind_platform: Platform, tmp_path: Path
) -> None:
    revisions_before = [r.number for r in kind_platform.rollout_history()]
    code, verdict, output = gate(MISSING, tmp_path, "--pull-grace", "15")
    assert code == 1, output
    assert verdict["failed_steps"][0] == "rollout"
    unpullable = verdict["rollout"]["unpullable"]
    assert unpullable.startswith(
        "the candidate's image cannot be pulled (ErrImagePull"
    ) or unpullable.startswith("the candidate's image cannot be pulled (ImagePullBackOff"), output
    assert verdict["timings_s"]["rollout"] < 120, "waited far past the grace (the bound is 300 s)"
    assert verdict["rollback"]["action"] == "rollout undo"
    assert verdict["rollback"]["passed"] is True, verdict["rollback"]
    assert images(kind_platform) == {DEPLOYED}
    # rollout undo: the deployed template came back as the newest revision
    history = kind_platform.rollout_history()
    assert history[-1].image == DEPLOYED
    assert history[-1].number > max(revisions_before)


def test_a_build_whose_activities_answer_500_becomes_ready_and_is_rejected_at_verification_3(
    kind_platform: Platform, tmp_path: Path
) -> None:
    code, verdict, output = gate(BROKEN, tmp_path)
    assert code == 1, output
    assert verdict["rollout"]["complete"] is True
    assert "Verification 3" in verdict["failed_steps"], verdict["failures"]
    assert "rollout" not in verdict["failed_steps"]
    assert verdict["rollback"]["passed"] is True, verdict["rollback"]
    assert images(kind_platform) == {DEPLOYED}
