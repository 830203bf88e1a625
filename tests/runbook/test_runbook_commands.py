"""Triage prints the runbook's own commands, rendered for the target: an edited runbook changes them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.runbook_copies import edited
from offgridflow_runbook.runbook.commands import known_good_tag, render_commands
from offgridflow_runbook.targets import Target

UseCopy = Callable[[str, str], None]
KIND = Target(
    name="k", platform="kubernetes", base_url="http://127.0.0.1:18080", namespace="shop", kube_context="ctx"
)
LOCAL = Target(
    name="l", platform="docker", base_url="http://127.0.0.1:8080", metrics_url="http://127.0.0.1:8081/metrics"
)


@pytest.fixture
def runbook_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UseCopy:
    """Point $OFFGRIDFLOW_RUNBOOK at a copy of the runbook with one edit."""

    def use(old: str, new: str) -> None:
        copy = tmp_path / "runbook.md"
        copy.write_text(edited(old, new), encoding="utf-8")
        monkeypatch.setenv("OFFGRIDFLOW_RUNBOOK", str(copy))

    return use


def test_an_edited_runbook_changes_the_commands_triage_prints(runbook_env: UseCopy) -> None:
    runbook_env("--tail=100", "--tail=500")
    assert (
        render_commands("Triage 1", KIND)[3]
        == "kubectl logs -n shop --context ctx -l app=offgridflow-api --tail=500"
    )


def test_the_known_good_tag_is_the_one_fix_4_sets(runbook_env: UseCopy) -> None:
    assert known_good_tag() == "v1.2.3"
    runbook_env("offgridflow-api:v1.2.3", "offgridflow-api:v1.1.0")
    assert known_good_tag() == "v1.1.0"
    (*_, set_image) = render_commands("Fix 4", KIND, image="registry.example:5000/offgridflow-api:v1.3.0")
    assert set_image.endswith("api=registry.example:5000/offgridflow-api:v1.1.0")


def test_urls_become_the_targets_and_curl_lines_need_no_docker_note() -> None:
    (ready,) = render_commands("Verification 2", LOCAL)
    assert ready == "curl http://127.0.0.1:8080/health/ready"
    (metrics,) = render_commands("Verification 4", KIND)
    assert metrics == 'curl http://127.0.0.1:8081/metrics | grep "http_requests_total"'


def test_on_docker_kubectl_lines_say_what_the_suite_does_instead() -> None:
    undo = render_commands("Fix 3", LOCAL)[2]
    assert undo == (
        "kubectl rollout undo deployment/offgridflow-api -n offgridflow    "
        "# on docker: recreates offgridflow-api from the previous revision (Platform.rollout_undo)"
    )
    assert all("# on docker" not in line for line in render_commands("Fix 3", KIND))


def test_a_section_the_runbook_lacks_has_no_commands() -> None:
    assert render_commands("none", LOCAL) == []
