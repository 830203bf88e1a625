"""Every fault writes its ledger entry before its change, with the steps that undo it; a process
killed right after leaves the entry open."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from chaoslib.exceptions import ActivityFailed

from helpers.chaos_fakes import RecordingPlatform
from helpers.local_http import answer_json, serving
from offgridflow_runbook.chaos import _context, faults, fixes, proof
from offgridflow_runbook.gameday.events import EventLog
from offgridflow_runbook.ledger import Entry, Ledger, Undo, UndoAction
from offgridflow_runbook.platforms import Revision

GOOD = "127.0.0.1:5000/offgridflow-api:v1.3.0"


@dataclass
class Witness(RecordingPlatform):
    """Records, at each change, which ledger entries were already on disk."""

    ledger_at_change: dict[str, list[Entry]] = field(default_factory=dict)

    def _look(self, change: str) -> None:
        self.ledger_at_change[change] = Ledger().entries()

    def set_image(self, image: str) -> None:
        self._look("set_image")
        super().set_image(image)

    def update_config(self, changes: Mapping[str, str]) -> None:
        self._look("update_config")
        super().update_config(changes)

    def kill_database(self) -> None:
        self._look("kill_database")
        super().kill_database()

    def crash_database(self) -> None:
        self._look("crash_database")
        super().crash_database()

    def set_api_service_selector(self, selector: Mapping[str, str]) -> None:
        self._look("set_api_service_selector")
        super().set_api_service_selector(selector)

    def adopt_in_place_config(self) -> None:
        self._look("adopt_in_place_config")
        self.calls.append("adopt_in_place_config")

    def adopt_hashed_config(self) -> None:
        self.calls.append("adopt_hashed_config")


@pytest.fixture
def witness(monkeypatch: pytest.MonkeyPatch) -> Witness:
    platform = Witness(configuration={"OFFGRIDFLOW_DB_POOL_MAX": "10"})
    monkeypatch.setattr(_context, "platform_for", lambda target: platform)
    return platform


def only_entry(witness: Witness, change: str, configuration: dict[str, str]) -> Entry:
    [entry] = witness.ledger_at_change[change]
    assert entry.target == "local"
    assert entry.mode == "unit"
    assert entry.events == str(EventLog.for_configuration(configuration).path.resolve())
    assert Ledger().entries() == [entry]  # a fault never clears its own entry: the game day or restore does
    return entry


def test_bad_image_records_the_image_to_go_back_to(witness: Witness, configuration: dict[str, str]) -> None:
    faults.set_image(tag="v9.9.9", target="local", configuration=configuration)
    entry = only_entry(witness, "set_image", configuration)
    assert entry.undo == (Undo(UndoAction.SET_IMAGE, {"image": GOOD}),)
    assert entry.fault == "set image 127.0.0.1:5000/offgridflow-api:v9.9.9"


def test_the_network_fault_records_the_selector_to_go_back_to_before_changing_it(
    witness: Witness, configuration: dict[str, str]
) -> None:
    faults.break_service_selector(target="local", configuration=configuration)
    entry = only_entry(witness, "set_api_service_selector", configuration)
    assert entry.undo == (Undo(UndoAction.SELECT, {"selector": {"app": "offgridflow-api"}}),)
    assert entry.fault == "service selector app=offgridflow-api,offgridflow.io/chaos=network"


def test_bad_config_records_the_value_it_replaces(witness: Witness, configuration: dict[str, str]) -> None:
    faults.update_config(target="local", configuration=configuration)
    entry = only_entry(witness, "update_config", configuration)
    assert entry.undo == (
        Undo(
            UndoAction.UPDATE_CONFIG,
            {"key": "OFFGRIDFLOW_DB_POOL_MAX", "previous": "10", "had_value": True, "secret": False},
        ),
    )


def test_a_secret_value_replaced_by_a_fault_is_not_recorded(
    witness: Witness, configuration: dict[str, str]
) -> None:
    witness.configuration["OFFGRIDFLOW_DATABASE_PASSWORD"] = "s3cret-value"
    faults.update_config("OFFGRIDFLOW_DATABASE_PASSWORD", "x", target="local", configuration=configuration)
    entry = only_entry(witness, "update_config", configuration)
    assert entry.path is not None
    assert "s3cret-value" not in entry.path.read_text()
    assert entry.undo[0].detail["secret"] is True


@pytest.mark.parametrize(
    ("fault", "change"),
    [
        (lambda c: faults.kill_database(target="local", configuration=c), "kill_database"),
        (
            lambda c: faults.crash_database_repeatedly(times=1, target="local", configuration=c),
            "crash_database",
        ),
    ],
    ids=["kill_database", "crash_database_repeatedly"],
)
def test_a_database_fault_records_that_the_database_must_be_started(
    witness: Witness, configuration: dict[str, str], fault: Any, change: str
) -> None:
    fault(configuration)
    entry = only_entry(witness, change, configuration)
    assert [step.action for step in entry.undo] == [UndoAction.START_DATABASE, UndoAction.RESTART_API]


def test_the_in_place_set_up_records_the_scheme_to_go_back_to(
    witness: Witness, configuration: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    faults.use_in_place_config(target="local", configuration=configuration)
    entry = only_entry(witness, "adopt_in_place_config", configuration)
    assert entry.undo == (Undo(UndoAction.USE_HASHED_CONFIG),)


def test_the_in_place_set_up_on_docker_refuses_before_writing_an_entry(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    with pytest.raises(ActivityFailed, match="needs Kubernetes"):
        faults.use_in_place_config(target="local", configuration=configuration)
    assert Ledger().entries() == []


def test_a_ledger_that_cannot_be_written_stops_the_fault(
    witness: Witness, configuration: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("OFFGRIDFLOW_LEDGER_DIR", str(blocker / "ledger"))
    with pytest.raises(ActivityFailed, match=r"cannot write the fault ledger .* the fault was not applied"):
        faults.set_image(tag="v9.9.9", target="local", configuration=configuration)
    assert witness.calls == []


# -- faults through the API (the memory assault, the background writer) -------------------------------
class FakeApi(BaseHTTPRequestHandler):
    seen_at_assault: ClassVar[list[list[Entry]]] = []
    next_id = 100

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/chaos/assaults/memory"):
            FakeApi.seen_at_assault.append(Ledger().entries())
            answer_json(self, 200, {"allocated_mib": 700})
        else:
            FakeApi.next_id += 1
            answer_json(self, 201, {"id": FakeApi.next_id})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api_configuration(
    configuration: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    monkeypatch.setenv("OFFGRIDFLOW_TOKEN", "unit-test-token")
    FakeApi.seen_at_assault = []
    with serving(FakeApi) as url:
        profile = {
            "platform": "docker",
            "base_url": url,
            "allow_chaos": True,
            "allow_writes": True,
            # what the recording platform answers (the guard checks it before any change)
            "identity": {"docker_host": "unix:///var/run/docker.sock", "stack_label": "local"},
        }
        targets = tmp_path / "targets.yaml"
        targets.write_text(json.dumps({"targets": {"local": profile}}))
        yield configuration | {"targets_file": str(targets)}


def test_the_memory_assault_records_the_limits_and_a_restart_before_it_is_sent(
    witness: Witness, api_configuration: dict[str, str]
) -> None:
    witness.history = [Revision(3, GOOD, "512Mi", "256Mi")]
    faults.memory_assault(target="local", configuration=api_configuration)
    [[entry]] = FakeApi.seen_at_assault
    assert entry.undo == (
        Undo(UndoAction.PATCH_MEMORY, {"limit": "512Mi", "request": "256Mi"}),
        Undo(UndoAction.RESTART_API),
    )


def test_the_background_writer_keeps_every_acknowledged_id_beside_its_entry(
    witness: Witness, api_configuration: dict[str, str]
) -> None:
    proof.start_background_writer(
        target="local", max_writes=5, max_seconds=10, interval=0.01, configuration=api_configuration
    )
    [entry] = Ledger().entries()
    deadline = time.monotonic() + 10
    while len(Ledger.acked_ids(entry)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped = proof.stop_background_writer(target="local", configuration=api_configuration)
    assert entry.undo == (Undo(UndoAction.CHECK_WRITES),)
    acked = Ledger.acked_ids(entry)
    assert len(acked) == stopped["acked"] == 5
    writes = [e for e in EventLog.for_configuration(api_configuration).read() if e.kind == "writes"]
    assert writes[-1].detail["acked"] == acked


# -- a crash between the entry and the change ---------------------------------------------------------
CRASHING_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from helpers.chaos_fakes import RecordingPlatform
    from offgridflow_runbook.chaos import _context, faults

    class Dies(RecordingPlatform):
        def set_image(self, image):
            os.kill(os.getpid(), signal.SIGKILL)  # killed as the change starts

    _context.platform_for = lambda target: Dies()
    faults.set_image(tag="v9.9.9", target="local", configuration=dict(
        targets_file=sys.argv[1], gameday_dir=sys.argv[2], mode="bad-image", watch_verdicts="false"))
    """
)


def test_a_process_killed_at_the_change_leaves_its_entry_open(configuration: dict[str, str]) -> None:
    environment = dict(os.environ) | {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, configuration["targets_file"], configuration["gameday_dir"]],
        env=environment,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()[-2000:]
    [entry] = Ledger().entries("local")
    assert entry.mode == "bad-image"
    assert entry.undo == (Undo(UndoAction.SET_IMAGE, {"image": GOOD}),)


def test_a_secret_value_is_not_in_the_event_log_either_and_restore_config_says_why(
    witness: Witness, configuration: dict[str, str]
) -> None:
    witness.configuration["OFFGRIDFLOW_DATABASE_PASSWORD"] = "s3cret-value"
    faults.update_config("OFFGRIDFLOW_DATABASE_PASSWORD", "x", target="local", configuration=configuration)
    log = EventLog.for_configuration(configuration)
    assert "s3cret-value" not in log.path.read_text()
    witness.configuration["OFFGRIDFLOW_DATABASE_PASSWORD"] = "x"  # the fault still in place
    with pytest.raises(ActivityFailed, match="comes from a Secret and its value was not recorded"):
        fixes.restore_config(target="local", configuration=configuration)
