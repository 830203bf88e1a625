"""The docker driver's revision history: pull first, stall on a missing tag, undo like kubectl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from offgridflow_runbook.platforms.base import PlatformError
from offgridflow_runbook.platforms.docker import revisions, rollout, specs


class Engine:
    """Stands in for the Docker client: records pulls and created containers, refuses listed images."""

    def __init__(self, missing: set[str]) -> None:
        self.missing = missing
        self.pulled: list[str] = []
        self.created: list[dict[str, Any]] = []


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("OFFGRIDFLOW_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("OFFGRIDFLOW_TOKEN", raising=False)
    fake = Engine(missing={"127.0.0.1:5000/offgridflow-api:v0.0.0"})

    def pull(_client: object, reference: str) -> None:
        fake.pulled.append(reference)
        if reference in fake.missing:
            raise specs.PullError(f"manifest for {reference} not found: manifest unknown")

    def ensure(_client: object, spec: dict[str, Any]) -> tuple[object, str]:
        fake.created.append(spec)
        return object(), "created"

    monkeypatch.setattr(specs, "pull", pull)
    monkeypatch.setattr(specs, "ensure", ensure)
    revisions.write_rollout(revisions.initial_rollout())
    return fake


def test_a_change_adds_a_revision_and_recreates_the_container_with_it(engine: Engine):
    rollout.change(engine, "memory", memory_limit="2Gi", memory_request="1Gi")  # type: ignore[arg-type]
    state = revisions.read_rollout()
    assert [r.number for r in state.revisions] == [1, 2]
    assert state.deployed == 2
    assert engine.created[-1]["mem_limit"] == 2 * 2**30
    assert engine.created[-1]["mem_reservation"] == 2**30


def test_the_same_values_add_no_revision(engine: Engine):
    rollout.change(engine, "again", memory_limit="512Mi")  # type: ignore[arg-type]
    assert len(revisions.read_rollout().revisions) == 1
    assert engine.created == []


def test_a_missing_tag_stalls_the_rollout_and_keeps_the_running_revision(engine: Engine):
    rollout.change(engine, "bad image", image="127.0.0.1:5000/offgridflow-api:v0.0.0")  # type: ignore[arg-type]
    state = revisions.read_rollout()
    assert state.deployed == 1
    assert state.stalled is not None
    assert "manifest unknown" in state.stalled["message"]
    assert rollout.stalled_reason(state) == "ErrImagePull"
    # the kubelet's first back-off: ten seconds later the pod shows ImagePullBackOff
    since = float(state.stalled["since"])
    assert float(state.stalled["backoff_at"]) == since + 10.0
    assert rollout.stalled_reason_at(state.stalled, since + 9.9) == "ErrImagePull"
    assert rollout.stalled_reason_at(state.stalled, since + 10.0) == "ImagePullBackOff"
    assert engine.created == []
    assert any(event["reason"] == "Failed" for event in revisions.recorded_events())


def test_undo_brings_back_the_previous_template_as_a_new_revision(engine: Engine):
    rollout.change(engine, "memory", memory_limit="2Gi", memory_request="1Gi")  # type: ignore[arg-type]
    rollout.change(engine, "bad config", config={"OFFGRIDFLOW_DB_POOL_MAX": "lots"})  # type: ignore[arg-type]
    rollout.undo(engine)  # type: ignore[arg-type]
    state = revisions.read_rollout()
    assert [r.number for r in state.revisions] == [1, 3, 4]
    assert state.latest.memory_limit == "2Gi"
    assert state.latest.config["OFFGRIDFLOW_DB_POOL_MAX"] == "10"
    assert state.deployed == 4
    assert state.stalled is None


def test_undo_without_history_says_so(engine: Engine):
    with pytest.raises(PlatformError, match="no previous revision"):
        rollout.undo(engine)  # type: ignore[arg-type]


def test_the_token_file_is_private_and_the_env_file_does_not_hold_the_token(engine: Engine):
    token = revisions.api_token()
    token_file = revisions.state_dir() / revisions.TOKEN_FILE
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token not in revisions.write_env_file().read_text(encoding="utf-8")
    assert revisions.api_token() == token


def test_only_up_adopts_the_token_from_the_environment(engine: Engine, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OFFGRIDFLOW_TOKEN", "chosen-by-the-user")
    revisions.adopt_environment_token()
    monkeypatch.setenv("OFFGRIDFLOW_TOKEN", "some-other-process")
    rollout.change(engine, "memory", memory_limit="1Gi")  # type: ignore[arg-type]
    assert engine.created[-1]["environment"]["OFFGRIDFLOW_API_TOKENS"] == "chosen-by-the-user"


def test_history_keeps_ten_old_revisions_and_the_running_one(engine: Engine):
    engine.missing.add("127.0.0.1:5000/offgridflow-api:v0.0.0")
    for size in range(600, 615):
        rollout.change(engine, f"memory {size}", memory_limit=f"{size}Mi")  # type: ignore[arg-type]
    rollout.change(engine, "bad image", image="127.0.0.1:5000/offgridflow-api:v0.0.0")  # type: ignore[arg-type]
    state = revisions.read_rollout()
    assert len(state.revisions) == 11
    assert state.deployed == 16
    assert state.latest.number == 17


def test_restart_keeps_the_running_container_when_its_image_cannot_be_pulled(engine: Engine):
    engine.missing.add(revisions.read_rollout().current.image)
    with pytest.raises(PlatformError, match="manifest unknown"):
        rollout.restart(engine)  # type: ignore[arg-type]
    assert engine.created == []
