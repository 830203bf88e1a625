"""The fault ledger: entries written durably before a change, read back whole or not at all, a
corrupted file reported (never acted on, never a crash), cleared with everything beside it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from offgridflow_runbook import ledger as ledger_module
from offgridflow_runbook.ledger import Ledger, Undo, UndoAction, config_undo, is_secret_key, ledger_dir
from offgridflow_runbook.targets import Identity, Target

TARGET = Target(
    name="local",
    platform="docker",
    base_url="http://127.0.0.1:8080",
    allow_chaos=True,
    identity=Identity(docker_host="unix:///var/run/docker.sock", stack_label="local"),
)
UNDO = (Undo(UndoAction.SET_IMAGE, {"image": "127.0.0.1:5000/offgridflow-api:v1.3.0"}),)


def test_an_entry_is_read_back_with_what_it_changed_and_how_to_undo_it(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    written = ledger.open(TARGET, mode="bad-image", fault="set image x:v9", undo=UNDO, events="/runs/e.jsonl")
    [entry] = ledger.entries("local")
    assert entry == written
    assert (entry.target, entry.mode, entry.fault, entry.undo, entry.events) == (
        "local",
        "bad-image",
        "set image x:v9",
        UNDO,
        "/runs/e.jsonl",
    )
    assert entry.profile["identity"] == {
        "kind_cluster": None,
        "api_server": None,
        "nodes": [],
        "docker_host": "unix:///var/run/docker.sock",
        "stack_label": "local",
    }
    assert entry.written_for(TARGET)
    assert ledger.entries("kind") == []
    assert entry.path is not None
    assert stat.S_IMODE(entry.path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [entry.path.name]  # no temporary file left


def test_the_entry_is_fsynced_then_renamed_then_the_directory_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        kind = "directory" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file"
        steps.append(f"fsync {kind}")
        real_fsync(descriptor)

    def replace(source: str | Path, destination: str | Path) -> None:
        steps.append("rename")
        real_replace(source, destination)

    monkeypatch.setattr(ledger_module.os, "fsync", fsync)
    monkeypatch.setattr(ledger_module.os, "replace", replace)
    Ledger(tmp_path).open(TARGET, mode="oom", fault="memory assault", undo=())
    assert steps == ["fsync file", "rename", "fsync directory"]


def test_a_crash_before_the_rename_leaves_no_entry_and_nothing_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(source: str | Path, destination: str | Path) -> None:
        raise KeyboardInterrupt  # the process dies between the write and the rename

    monkeypatch.setattr(ledger_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        Ledger(tmp_path).open(TARGET, mode="oom", fault="memory assault", undo=UNDO)
    assert [p.name.startswith(".writing-") for p in tmp_path.iterdir()] == [True]
    assert Ledger(tmp_path).read() == ([], [])


def test_a_half_written_temporary_file_is_never_read_as_an_entry(tmp_path: Path) -> None:
    (tmp_path / ".writing-20260101T000000-local-abcdef12").write_text('{"schema": 1, "id": "x", "tar')
    assert Ledger(tmp_path).read() == ([], [])


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"schema": 1, "id": "a", "target": "local", "mo', "Unterminated string"),
        (b"\xff\xfe not utf-8", "codec can't decode"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"schema": 7}', "schema 7, expected 1"),
        (
            b'{"schema": 1, "id": "a", "target": "local", "mode": "m", "fault": "f", "at": 1, '
            b'"profile": {}, "undo": [{"action": "format_disk", "detail": {}}]}',
            "unknown undo action 'format_disk'",
        ),
        (
            b'{"schema": 1, "id": "a", "target": "local", "mode": "m", "fault": "f", "at": "soon", '
            b'"profile": {}, "undo": []}',
            "'at' is not a number",
        ),
    ],
)
def test_a_corrupted_entry_is_reported_beside_the_good_ones(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    ledger = Ledger(tmp_path)
    good = ledger.open(TARGET, mode="bad-image", fault="set image x:v9", undo=UNDO)
    (tmp_path / "20260101T000000-local-deadbeef.json").write_bytes(content)
    entries, unreadable = ledger.read("local")
    assert entries == [good]
    [bad] = unreadable
    assert bad.path.name == "20260101T000000-local-deadbeef.json"
    assert reason in bad.reason
    assert "\n" not in bad.reason
    lines = ledger.open_lines("local")
    assert any("unreadable fault ledger file" in line and reason in line for line in lines)


def test_entries_come_oldest_first_and_clear_moves_one_aside_with_its_history(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    first = ledger.open(TARGET, mode="bad-config", fault="writer", undo=())
    second = ledger.open(TARGET, mode="bad-config", fault="config X=lots", undo=UNDO)
    assert [e.id for e in ledger.entries()] == [first.id, second.id]
    Ledger.acked_path(first).write_text("1\n2\n")
    ledger.clear(first, by="a test", note="image back")
    assert ledger.read() == ([second], [])
    assert not Ledger.acked_path(first).exists()
    kept = ledger.cleared_directory
    assert sorted(p.name for p in kept.iterdir()) == sorted(
        ["history.jsonl", f"{first.id}.json", f"{first.id}.acked"]
    )
    [line] = [json.loads(text) for text in (kept / "history.jsonl").read_text().splitlines()]
    assert {k: line[k] for k in ("id", "target", "mode", "by", "note")} == {
        "id": first.id,
        "target": "local",
        "mode": "bad-config",
        "by": "a test",
        "note": "image back",
    }


def test_a_torn_last_acknowledged_id_is_not_an_id(tmp_path: Path) -> None:
    entry = Ledger(tmp_path).open(TARGET, mode="db-kill", fault="writer", undo=())
    Ledger.acked_path(entry).write_text("11\n12\n13")  # "13" may be the start of "1350"
    assert Ledger.acked_ids(entry) == [11, 12]


@pytest.mark.parametrize("key", ["OFFGRIDFLOW_DATABASE_PASSWORD", "OFFGRIDFLOW_API_TOKENS"])
def test_a_secret_value_is_never_written(tmp_path: Path, key: str) -> None:
    assert is_secret_key(key)
    entry = Ledger(tmp_path).open(
        TARGET, mode="bad-config", fault="config", undo=[config_undo(key, "hunter22s3")]
    )
    assert entry.path is not None
    text = entry.path.read_text()
    assert "hunter22s3" not in text
    [step] = json.loads(text)["undo"]
    assert step["detail"] == {"key": key, "previous": None, "had_value": True, "secret": True}
    assert "from its Secret (value not recorded)" in entry.undo[0].describe()


def test_an_ordinary_config_value_is_kept() -> None:
    undo = config_undo("OFFGRIDFLOW_DB_POOL_MAX", "10")
    assert undo.detail == {
        "key": "OFFGRIDFLOW_DB_POOL_MAX",
        "previous": "10",
        "had_value": True,
        "secret": False,
    }


def test_the_ledger_directory_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OFFGRIDFLOW_LEDGER_DIR", str(tmp_path / "here"))
    assert ledger_dir() == tmp_path / "here"
    monkeypatch.delenv("OFFGRIDFLOW_LEDGER_DIR")
    monkeypatch.setenv("OFFGRIDFLOW_STATE_DIR", str(tmp_path / "state"))
    assert ledger_dir() == tmp_path / "state" / "ledger"
    monkeypatch.delenv("OFFGRIDFLOW_STATE_DIR")
    monkeypatch.setenv("OFFGRIDFLOW_HOME", str(tmp_path / "home"))
    assert ledger_dir() == tmp_path / "home" / ".state" / "ledger"
    monkeypatch.delenv("OFFGRIDFLOW_HOME", raising=False)
    monkeypatch.chdir(tmp_path)  # from anywhere: the checkout this module runs from
    assert ledger_dir() == Path(ledger_module.__file__).resolve().parents[2] / ".state" / "ledger"


def test_an_entry_for_another_profile_is_not_written_for_this_one(tmp_path: Path) -> None:
    entry = Ledger(tmp_path).open(TARGET, mode="oom", fault="memory assault", undo=())
    moved = TARGET.with_overrides(base_url="http://127.0.0.1:9999")
    assert not entry.written_for(moved)
    assert entry.written_for(TARGET.with_overrides(allow_chaos=False))  # the guard is not the system


def test_open_lines_name_the_entry_and_the_command(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    assert ledger.open_lines("local") == []
    entry = ledger.open(TARGET, mode="bad-image", fault="set image x:v9", undo=UNDO)
    [line] = ledger.open_lines("local")
    assert entry.id in line
    assert "set image x:v9" in line
    assert "offgridflow-runbook restore --target local" in line


def test_the_same_kubeconfig_named_two_ways_is_the_same_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    kind = Target(
        name="kind", platform="kubernetes", base_url="http://127.0.0.1:18080", kubeconfig=".state/k"
    )
    entry = Ledger(tmp_path / "ledger").open(kind, mode="oom", fault="memory assault", undo=())
    assert entry.written_for(kind.with_overrides(kubeconfig=str(tmp_path / ".state" / "k")))
    assert not entry.written_for(kind.with_overrides(kubeconfig=str(tmp_path / "other")))


def test_a_profile_name_never_becomes_a_path(tmp_path: Path) -> None:
    odd = Target(name="../../etc/x", platform="docker", base_url="http://127.0.0.1:8080")
    entry = Ledger(tmp_path).open(odd, mode="oom", fault="memory assault", undo=())
    assert entry.path is not None
    assert entry.path.parent == tmp_path
    assert Ledger(tmp_path).entries("../../etc/x") == [entry]


def test_a_ledger_that_cannot_be_listed_is_reported_not_crashed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = Ledger(tmp_path)
    ledger.open(TARGET, mode="oom", fault="memory assault", undo=())

    def refused(self: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", refused)
    entries, [bad] = ledger.read("local")
    assert entries == []
    assert bad.reason == "cannot list the ledger: Permission denied"
