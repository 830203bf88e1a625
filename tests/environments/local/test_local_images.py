"""The API tags the local stack builds: the production tags never set the defect switch; the gate's
broken candidate sets one the service knows (an unknown one would make it exit 78, not answer 500).
The inputs hashes make kind-up compares its images' labels with."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from docker.errors import ImageNotFound

from offgridflow_api.config import KNOWN_DEFECTS
from offgridflow_runbook.environments.local import __main__ as command
from offgridflow_runbook.environments.local.images import api_builds, build_inputs
from offgridflow_runbook.environments.local.preflight import StackError
from offgridflow_runbook.platforms.docker.names import (
    BASE_IMAGE,
    BROKEN_API_DEFECT,
    BROKEN_API_TAG,
    CURRENT_API_TAG,
    INPUTS_HASH_LABEL,
)
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


class _Images:
    def __init__(self, base_id: str | None) -> None:
        self.base_id = base_id

    def get(self, reference: str) -> SimpleNamespace:
        if self.base_id is None or reference != BASE_IMAGE:
            raise ImageNotFound(reference)
        return SimpleNamespace(id=self.base_id)


class _Client:
    def __init__(self, base_id: str | None) -> None:
        self.images = _Images(base_id)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_the_inputs_hashes_change_with_the_base_image_and_differ_per_image() -> None:
    first = build_inputs(_Client("sha256:aaa"))  # type: ignore[arg-type]
    again = build_inputs(_Client("sha256:aaa"))  # type: ignore[arg-type]
    rebased = build_inputs(_Client("sha256:bbb"))  # type: ignore[arg-type]
    assert set(first) == {"api", "monitor"}
    assert first == again
    assert first["api"] != first["monitor"]
    assert rebased["api"] != first["api"]
    assert rebased["monitor"] != first["monitor"]


def test_the_inputs_of_a_machine_without_the_base_image_name_the_script_that_builds_it() -> None:
    with pytest.raises(StackError, match=r"build-base-image\.sh"):
        build_inputs(_Client(None))  # type: ignore[arg-type]


def test_the_inputs_command_prints_the_label_kind_up_compares(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = _Client("sha256:aaa")
    monkeypatch.setattr(command.docker, "from_env", lambda timeout: client)
    assert command.main(["inputs"]) == 0
    fields = dict(pair.split("=", 1) for pair in capsys.readouterr().out.split())
    expected = build_inputs(_Client("sha256:aaa"))  # type: ignore[arg-type]
    assert fields == {"label": INPUTS_HASH_LABEL, **expected}
    assert client.closed


def test_the_inputs_command_without_the_base_image_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(command.docker, "from_env", lambda timeout: _Client(None))
    assert command.main(["inputs"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
