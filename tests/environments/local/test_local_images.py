"""The API tags the local stack builds: the production tags never set the defect switch; the gate's
broken candidate sets one the service knows (an unknown one would make it exit 78, not answer 500)."""

from __future__ import annotations

from pathlib import Path

from offgridflow_api.config import KNOWN_DEFECTS
from offgridflow_runbook.environments.local.images import api_builds
from offgridflow_runbook.platforms.docker.names import BROKEN_API_DEFECT, BROKEN_API_TAG, CURRENT_API_TAG
from offgridflow_runbook.runbook.commands import known_good_tag

ROOT = Path(__file__).resolve().parents[3]


def test_only_the_broken_candidate_is_built_with_the_defect_switch() -> None:
    builds = api_builds()
    assert set(builds) == {CURRENT_API_TAG, known_good_tag(), BROKEN_API_TAG}
    for tag in (CURRENT_API_TAG, known_good_tag()):
        assert "OFFGRIDFLOW_DEFECT" not in builds[tag]
    assert builds[BROKEN_API_TAG]["OFFGRIDFLOW_DEFECT"] == BROKEN_API_DEFECT
    assert BROKEN_API_DEFECT in KNOWN_DEFECTS


def test_the_api_image_bakes_the_switch_in_empty_unless_a_build_argument_sets_it() -> None:
    dockerfile = (ROOT / "deploy" / "docker" / "api.Dockerfile").read_text()
    assert "ARG OFFGRIDFLOW_DEFECT=\n" in dockerfile
    assert "OFFGRIDFLOW_DEFECT=$OFFGRIDFLOW_DEFECT" in dockerfile
    # kind-up builds the same three tags, the broken one with the same switch
    kind_up = (ROOT / "scripts" / "kind-up.sh").read_text()
    assert '--build-arg "OFFGRIDFLOW_DEFECT=$broken_defect"' in kind_up
    assert "BROKEN_API_TAG, BROKEN_API_DEFECT" in kind_up
