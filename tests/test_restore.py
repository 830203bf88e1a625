"""restore: every open entry of a target undone newest first through its platform, Verification 1-5
waited for, and an entry cleared only when its own undo worked and Verification passed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from helpers.chaos_fakes import RecordingPlatform
from helpers.local_http import answer_json, serving
from offgridflow_runbook.ledger import Ledger, Undo, UndoAction, config_undo
from offgridflow_runbook.platforms import CommandResult, Revision, SeenIdentity, Workload
from offgridflow_runbook.restore import restore
from offgridflow_runbook.runbook.steps import Outcome, StepResult
from offgridflow_runbook.runbook.verification import VerificationReport
from offgridflow_runbook.targets import Target, load_target

TARGETS_FILE = Path(__file__).parents[1] / "targets.yaml"
GOOD = "127.0.0.1:5000/offgridflow-api:v1.3.0"
SELECTOR = {"app": "offgridflow-api"}
CHAOS_SELECTOR = {**SELECTOR, "offgridflow.io/chaos": "network"}
BAD = "127.0.0.1:5000/offgridflow-api:v9.9.9-does-not-exist"


def api(ready: bool) -> Workload:
    return Workload("offgridflow-api", "offgridflow-api", "Running", ready, 0, GOOD)


@dataclass
class BrokenPlatform(RecordingPlatform):
    """A recording platform whose state follows what it is asked to do: faults in place until undone."""

    database_ready: bool = True
    adopted: list[str] = field(default_factory=list)

    def set_image(self, image: str) -> None:
        super().set_image(image)
        last = self.history[-1]
        self.history.append(Revision(last.number + 1, image, last.memory_limit, last.memory_request))

    def patch_memory(self, *, limit: str = "2Gi", request: str = "1Gi") -> None:
        super().patch_memory(limit=limit, request=request)
        last = self.history[-1]
        self.history.append(Revision(last.number + 1, last.image, limit, request))

    def update_config(self, changes: dict[str, str]) -> None:  # type: ignore[override]
        super().update_config(changes)
        self.configuration.update(changes)

    def pg_isready(self) -> CommandResult:
        return CommandResult(("pg_isready",), 0 if self.database_ready else 2, "")

    def restart_database(self) -> None:
        super().restart_database()
        self.database_ready = True

    def rollout_restart(self) -> None:
        super().rollout_restart()
        self.workloads = [api(True)]

    def adopt_hashed_config(self) -> None:
        self.calls.append("adopt_hashed_config")


class Verdicts:
    """Verification 1-5 as scripted: each call the next verdict (the last one repeats)."""

    def __init__(self, *passes: bool) -> None:
        self.passes = list(passes)
        self.calls: list[list[str]] = []

    def __call__(self, target: Target, platform: RecordingPlatform) -> VerificationReport:
        passed = self.passes.pop(0) if len(self.passes) > 1 else self.passes[0]
        self.calls.append(list(platform.calls))
        outcome = Outcome.PASSED if passed else Outcome.FAILED
        step = StepResult("Verification 1", "GET /health/ready", outcome, "ready" if passed else "HTTP 503")
        return VerificationReport(target.name, datetime.now(UTC), (step,), None)  # type: ignore[arg-type]


@pytest.fixture
def local() -> Target:
    return load_target("local", TARGETS_FILE)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger")


@pytest.fixture
def broken() -> BrokenPlatform:
    """Every fault of the game day in place: bad image, bad value, database down, API not ready."""
    return BrokenPlatform(
        workloads=[api(False)],
        history=[Revision(1, BAD, "512Mi", "256Mi")],
        configuration={"OFFGRIDFLOW_DB_POOL_MAX": "lots"},
        database_ready=False,
        selector=dict(CHAOS_SELECTOR),
    )


def write_every_kind(ledger: Ledger, target: Target) -> None:
    """One entry per kind of fault, oldest first, as the faults write them."""
    ledger.open(
        target,
        mode="network",
        fault="selector",
        undo=[Undo(UndoAction.SELECT, {"selector": SELECTOR})],
    )
    ledger.open(
        target, mode="bad-config-in-place", fault="in place", undo=[Undo(UndoAction.USE_HASHED_CONFIG)]
    )
    ledger.open(
        target, mode="bad-config", fault="config", undo=[config_undo("OFFGRIDFLOW_DB_POOL_MAX", "10")]
    )
    ledger.open(target, mode="bad-image", fault="image", undo=[Undo(UndoAction.SET_IMAGE, {"image": GOOD})])
    ledger.open(
        target,
        mode="db-kill",
        fault="database killed",
        undo=[Undo(UndoAction.START_DATABASE), Undo(UndoAction.RESTART_API)],
    )
    ledger.open(
        target,
        mode="oom",
        fault="memory assault",
        undo=[
            Undo(UndoAction.PATCH_MEMORY, {"limit": "1Gi", "request": "256Mi"}),
            Undo(UndoAction.RESTART_API),
        ],
    )


def test_nothing_open_is_said_and_is_success(local: Target, ledger: Ledger, broken: BrokenPlatform) -> None:
    report = restore(local, ledger=ledger, platform=broken, verifier=Verdicts(False))
    assert report.exit_code == 0
    assert report.lines() == [
        f"target 'local': nothing open in the fault ledger ({ledger.directory}); nothing to restore"
    ]
    assert broken.calls == []


def test_every_kind_of_entry_is_undone_newest_first_then_verified_then_cleared(
    local: Target, ledger: Ledger, broken: BrokenPlatform
) -> None:
    write_every_kind(ledger, local)
    verdicts = Verdicts(False, True)
    report = restore(local, ledger=ledger, platform=broken, verifier=verdicts, verify_deadline=30)
    assert broken.calls == [
        "patch_memory 1Gi 256Mi",  # oom (newest): limits back
        "rollout_restart",  # ... and the API, not ready, restarted
        "restart_database",  # db-kill: the database started
        "wait_database_ready",
        # db-kill's RESTART_API: the API is ready again after the oom entry's restart: not restarted twice
        f"set_image {GOOD}",  # bad-image
        "update_config {'OFFGRIDFLOW_DB_POOL_MAX': '10'}",  # bad-config
        "adopt_hashed_config",  # bad-config-in-place's set-up
        f"set_api_service_selector {SELECTOR}",  # network (oldest) last: the Service's selector back
        "wait_rollout",
    ]
    assert len(verdicts.calls) == 2  # waited until Verification passed
    assert report.exit_code == 0
    assert ledger.read() == ([], [])
    history = [
        json.loads(line) for line in (ledger.cleared_directory / "history.jsonl").read_text().splitlines()
    ]
    assert [line["by"] for line in history] == ["offgridflow-runbook restore"] * 6
    assert history[0]["note"] == "memory set back to 1Gi/256Mi; API restarted"
    assert report.lines()[-1] == "target 'local': restored; Verification 1-5 pass"
    assert report.lines()[-2].endswith("restored (Service selector back to app=offgridflow-api)")
    assert len(report.lines()) == 7  # one line per entry, then the verdict


def test_nothing_is_cleared_while_verification_does_not_pass(
    local: Target, ledger: Ledger, broken: BrokenPlatform
) -> None:
    write_every_kind(ledger, local)
    report = restore(local, ledger=ledger, platform=broken, verifier=Verdicts(False), verify_deadline=0.05)
    assert report.exit_code == 1
    assert len(ledger.entries()) == 6
    assert all("NOT restored: Verification 1-5 did not pass" in line for line in report.lines()[:6])
    assert report.lines()[-1] == "target 'local': Verification 1-5 did not pass: Verification 1: HTTP 503"


def test_a_second_restore_finds_everything_already_back_and_changes_nothing(
    local: Target, ledger: Ledger, broken: BrokenPlatform
) -> None:
    write_every_kind(ledger, local)
    restore(local, ledger=ledger, platform=broken, verifier=Verdicts(False), verify_deadline=0.01)
    broken.calls.clear()
    report = restore(local, ledger=ledger, platform=broken, verifier=Verdicts(True))
    assert [c for c in broken.calls if c != "wait_rollout"] == ["adopt_hashed_config"]  # idempotent itself
    assert report.exit_code == 0
    assert "memory already 1Gi/256Mi" in report.lines()[0]
    assert "Service selector already app=offgridflow-api" in report.lines()[-2]


def test_an_entry_that_cannot_be_undone_stays_open_with_its_reason_while_the_others_clear(
    local: Target, ledger: Ledger, broken: BrokenPlatform
) -> None:
    secret = ledger.open(
        local, mode="bad-config", fault="password", undo=[config_undo("OFFGRIDFLOW_DATABASE_PASSWORD", "pw")]
    )
    ledger.open(local, mode="bad-image", fault="image", undo=[Undo(UndoAction.SET_IMAGE, {"image": GOOD})])
    report = restore(local, ledger=ledger, platform=broken, verifier=Verdicts(True))
    assert report.exit_code == 1
    assert ledger.entries() == [secret]
    image_line, secret_line, verdict = report.lines()
    assert verdict == "target 'local': 1 ledger entries NOT restored (above)"
    assert image_line.endswith(f"restored (image set back to {GOOD})")
    assert "NOT restored: OFFGRIDFLOW_DATABASE_PASSWORD from its Secret (value not recorded): " in secret_line
    assert "re-apply offgridflow-secrets from version control" in secret_line


def test_a_key_without_a_previous_value_is_not_guessed(
    local: Target, ledger: Ledger, broken: BrokenPlatform
) -> None:
    ledger.open(local, mode="bad-config", fault="new key", undo=[config_undo("OFFGRIDFLOW_NEW", None)])
    report = restore(local, ledger=ledger, platform=broken, verifier=Verdicts(True))
    assert report.exit_code == 1
    assert (
        "(no value before the fault): the suite does not delete keys: remove OFFGRIDFLOW_NEW"
        in report.lines()[0]
    )
    assert not any(call.startswith("update_config") for call in broken.calls)


def test_an_entry_written_for_another_profile_is_refused_and_nothing_is_touched(
    local: Target, ledger: Ledger, broken: BrokenPlatform
) -> None:
    elsewhere = local.with_overrides(base_url="http://127.0.0.1:18080")
    ledger.open(
        elsewhere, mode="bad-image", fault="image", undo=[Undo(UndoAction.SET_IMAGE, {"image": GOOD})]
    )
    report = restore(local, ledger=ledger, platform=broken, verifier=Verdicts(True))
    assert report.exit_code == 1
    assert broken.calls == []
    assert (
        "written for another profile of 'local' (base_url 'http://127.0.0.1:18080', now" in report.lines()[0]
    )
    assert len(ledger.entries()) == 1


def test_a_target_that_no_longer_allows_chaos_gets_back_only_what_the_suite_recorded_there(
    local: Target, ledger: Ledger, broken: BrokenPlatform
) -> None:
    ledger.open(local, mode="bad-image", fault="image", undo=[Undo(UndoAction.SET_IMAGE, {"image": GOOD})])
    protected = local.with_overrides(allow_chaos=False)
    report = restore(protected, ledger=ledger, platform=broken, verifier=Verdicts(True))
    assert report.exit_code == 0
    assert broken.calls == [f"set_image {GOOD}", "wait_rollout"]
    assert report.lines()[0].startswith("target 'local' does not allow chaos; restoring only what the ledger")


def test_an_unreadable_ledger_file_is_a_failure_with_its_line(local: Target, ledger: Ledger) -> None:
    ledger.directory.mkdir(parents=True)
    (ledger.directory / "20260101T000000-local-00000000.json").write_text("{not json")
    report = restore(local, ledger=ledger, platform=RecordingPlatform(), verifier=Verdicts(True))
    assert report.exit_code == 1
    line, verdict = report.lines()
    assert verdict == "target 'local': 1 ledger entries NOT restored (above)"
    assert "unreadable ledger file, NOT restored:" in line
    assert "(look at it, then remove it)" in line


# -- the background writer's acknowledged writes ------------------------------------------------------
STORED = {1, 2}


class Activities(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = re.fullmatch(r"/v1/activities/(\d+)", self.path)
        status = 200 if found and int(found.group(1)) in STORED else 404
        answer_json(self, status, {"id": int(found.group(1))} if status == 200 and found else {})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def activities_api(local: Target, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    monkeypatch.setenv(local.token_env, "unit-test-token")
    with serving(Activities) as url:
        yield local.with_overrides(base_url=url)


@pytest.mark.parametrize(("acked", "cleared"), [("1\n2\n", True), ("1\n2\n3\n", False)])
def test_a_writer_entry_clears_only_when_every_acknowledged_write_reads_back(
    activities_api: Target, ledger: Ledger, acked: str, cleared: bool
) -> None:
    entry = ledger.open(activities_api, mode="db-kill", fault="writer", undo=[Undo(UndoAction.CHECK_WRITES)])
    Ledger.acked_path(entry).write_text(acked)
    report = restore(activities_api, ledger=ledger, platform=RecordingPlatform(), verifier=Verdicts(True))
    assert (ledger.entries() == []) is cleared
    if cleared:
        assert report.exit_code == 0
        assert "2 acknowledged writes all there" in report.lines()[0]
    else:
        assert report.exit_code == 1
        assert "NOT restored: 1 of 3 acknowledged writes lost: [3]" in report.lines()[0]


def test_nothing_changes_when_what_answers_is_not_the_declared_system(
    local: Target, ledger: Ledger, broken: BrokenPlatform
) -> None:
    ledger.open(local, mode="bad-image", fault="image", undo=[Undo(UndoAction.SET_IMAGE, {"image": GOOD})])
    broken.seen = SeenIdentity("docker", docker_host="tcp://10.0.0.9:2375", stack_labels=("local",))
    report = restore(local, ledger=ledger, platform=broken, verifier=Verdicts(True))
    assert report.exit_code == 1
    assert broken.calls == []
    assert (
        "NOT restored: target 'local': refusing: expected Docker engine unix:///var/run/docker.sock, "
        "found tcp://10.0.0.9:2375" in report.lines()[0]
    )
    assert len(ledger.entries()) == 1


def test_an_instance_the_fault_killed_is_replaced_though_it_is_ready_again(
    local: Target, ledger: Ledger
) -> None:
    """An OOM kill restarts the container in place: ready again, but with a restart Verification 1
    does not accept. Restore replaces it instead of waiting for a count that never goes back."""
    killed = Workload("offgridflow-api", "offgridflow-api", "Running", True, 1, GOOD)
    platform = BrokenPlatform(workloads=[killed], history=[Revision(1, GOOD, "512Mi", "256Mi")])
    ledger.open(local, mode="oom", fault="memory assault", undo=[Undo(UndoAction.RESTART_API)])
    report = restore(local, ledger=ledger, platform=platform, verifier=Verdicts(True))
    assert "rollout_restart" in platform.calls
    assert report.exit_code == 0
    assert platform.workloads == [api(True)]


def test_a_select_entry_without_a_selector_is_not_guessed(
    local: Target, ledger: Ledger, broken: BrokenPlatform
) -> None:
    ledger.open(local, mode="network", fault="selector", undo=[Undo(UndoAction.SELECT, {})])
    report = restore(local, ledger=ledger, platform=broken, verifier=Verdicts(True))
    assert report.exit_code == 1
    assert "the entry names no selector to put back" in report.lines()[0]
    assert broken.selector == CHAOS_SELECTOR
