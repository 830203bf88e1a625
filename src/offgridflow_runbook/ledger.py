"""The fault ledger: what a fault changed on a target and how to undo it, written before it lands.

A ``chaos run`` killed while its fault is in place (SIGKILL, a power cut, an OOM of the runner)
never runs its rollbacks. The ledger is what then remains: one JSON file per fault under
``.state/ledger/`` (``$OFFGRIDFLOW_LEDGER_DIR`` elsewhere), written *before* the change and removed
only after the undo and Verification 1-5 passed. ``offgridflow-runbook restore`` undoes what is
open; a game day refuses a target with an open entry.

Durability: an entry is written to a temporary file, flushed and ``fsync``-ed, renamed into place
and the directory ``fsync``-ed, so after a crash an entry is either whole or absent, and it exists
before the fault's first change. A temporary file (a crash during the write) is never read as an
entry; an entry that does not parse is reported as unreadable, never acted on and never crashed on.

Secret values are never written: an undo of a value that comes from a Secret says so and holds no
value (restoring it is re-applying the Secret from version control).

This module knows targets only: the undo steps are data (:class:`Undo`), carried out by
:mod:`offgridflow_runbook.restore` through a platform.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from offgridflow_runbook.project import project_root
from offgridflow_runbook.targets import Target

__all__ = [
    "LEDGER_DIR_ENV",
    "SECRET_KEY_WORDS",
    "Entry",
    "Ledger",
    "Undo",
    "UndoAction",
    "Unreadable",
    "config_undo",
    "is_secret_key",
    "ledger_dir",
    "profile_of",
]

LEDGER_DIR_ENV = "OFFGRIDFLOW_LEDGER_DIR"
_SCHEMA = 1
_SUFFIX = ".json"
_TEMPORARY_PREFIX = ".writing-"
_ACKED_SUFFIX = ".acked"
_CLEARED = "cleared"


class UndoAction(StrEnum):
    """What one undo step does (its ``detail`` keys in brackets)."""

    SET_IMAGE = "set_image"  # the API's image back to [image]
    PATCH_MEMORY = "patch_memory"  # the API's memory [limit] and [request] back
    UPDATE_CONFIG = "update_config"  # [key] of offgridflow-config back to [previous] (or [secret])
    START_DATABASE = "start_database"  # the database started and ready
    RESTART_API = "restart_api"  # the API restarted when an instance is not ready
    SCALE = "scale"  # the API back to [replicas]
    SELECT = "select"  # the Service's [selector] back (a network fault)
    USE_HASHED_CONFIG = "use_hashed_config"  # the API reads a hashed offgridflow-config again (Kubernetes)
    CHECK_WRITES = "check_writes"  # every write acknowledged beside the entry can be read back


@dataclass(frozen=True)
class Undo:
    """One step that puts back what a fault changed, as data."""

    action: UndoAction
    detail: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for a person: what this step puts back."""
        d = self.detail
        if self.action is UndoAction.SET_IMAGE:
            return f"image back to {d.get('image')}"
        if self.action is UndoAction.PATCH_MEMORY:
            return f"memory limit {d.get('limit')} / request {d.get('request')} back"
        if self.action is UndoAction.UPDATE_CONFIG:
            if d.get("secret"):
                return f"{d.get('key')} from its Secret (value not recorded)"
            if not d.get("had_value"):
                return f"offgridflow-config {d.get('key')} removed (no value before the fault)"
            return f"offgridflow-config {d.get('key')}={d.get('previous')!s} back"
        if self.action is UndoAction.SCALE:
            return f"API back to {d.get('replicas')} replicas"
        if self.action is UndoAction.SELECT:
            return f"Service selector back to {d.get('selector')}"
        if self.action is UndoAction.CHECK_WRITES:
            return "every acknowledged write readable"
        return self.action.value.replace("_", " ")


# A configuration key whose name holds one of these comes from the Secret ``offgridflow-secrets``
# (OFFGRIDFLOW_DATABASE_PASSWORD, OFFGRIDFLOW_API_TOKENS) or may as well: its value is never written.
SECRET_KEY_WORDS = ("PASSWORD", "TOKEN", "SECRET", "KEY", "CREDENTIAL")


def is_secret_key(key: str) -> bool:
    """Whether ``key`` names a secret (its value is never written to the ledger)."""
    return any(word in key.upper() for word in SECRET_KEY_WORDS)


def config_undo(key: str, previous: str | None) -> Undo:
    """The undo of a configuration change: the previous value, unless the key is a secret (then
    only that there was one)."""
    secret = is_secret_key(key)
    return Undo(
        UndoAction.UPDATE_CONFIG,
        {
            "key": key,
            "previous": None if secret else previous,
            "had_value": previous is not None,
            "secret": secret,
        },
    )


def profile_of(target: Target) -> dict[str, Any]:
    """What the entry says the target was: the fields that decide which system a change reaches
    (never the token), shaped as JSON reads it back."""
    profile = {
        "name": target.name,
        "platform": target.platform,
        "base_url": target.base_url,
        "namespace": target.namespace,
        "kube_context": target.kube_context,
        # absolute: the same file named relative to another targets file is the same system
        "kubeconfig": os.path.abspath(os.path.expanduser(target.kubeconfig)) if target.kubeconfig else None,
        "identity": asdict(target.identity) if target.identity is not None else None,
    }
    shaped: dict[str, Any] = json.loads(json.dumps(profile))
    return shaped


@dataclass(frozen=True)
class Entry:
    """One fault that is (or may still be) in place: what it changed and how to undo it."""

    id: str
    target: str
    profile: Mapping[str, Any]
    mode: str
    fault: str
    at: float  # Unix time the entry was written (before the change)
    undo: tuple[Undo, ...]
    events: str = ""  # the run's event log (the game day clears the entries of its own runs)
    path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": _SCHEMA,
            "id": self.id,
            "target": self.target,
            "profile": dict(self.profile),
            "mode": self.mode,
            "fault": self.fault,
            "at": self.at,
            "at_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "undo": [{"action": step.action.value, "detail": dict(step.detail)} for step in self.undo],
            "events": self.events,
        }

    def summary(self) -> str:
        """One line: which fault, when, on which target, and the file."""
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(self.at))
        return f"{self.id} ({self.mode}: {self.fault}, {when}, target {self.target})"

    def written_for(self, target: Target) -> bool:
        """Whether the entry was written for this very profile (same system, same identity)."""
        return dict(self.profile) == profile_of(target)


@dataclass(frozen=True)
class Unreadable:
    """A file in the ledger that is not a valid entry (never acted on; a person must look)."""

    path: Path
    reason: str


def ledger_dir() -> Path:
    """``$OFFGRIDFLOW_LEDGER_DIR``, else ``ledger/`` in ``$OFFGRIDFLOW_STATE_DIR``, else
    ``.state/ledger`` of the project root (``project.project_root``, where the Docker stack's
    ``.state`` is too), so that ``chaos run``, ``restore`` and ``make up`` find one ledger whatever
    directory each is started from."""
    if configured := os.environ.get(LEDGER_DIR_ENV):
        return Path(configured)
    if state := os.environ.get("OFFGRIDFLOW_STATE_DIR"):
        return Path(state) / "ledger"
    return project_root() / ".state" / "ledger"


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _undo_from(raw: Any) -> Undo:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("detail", {}), Mapping):
        raise ValueError("an undo step is not an object with 'action' and 'detail'")
    try:
        action = UndoAction(str(raw.get("action")))
    except ValueError:
        raise ValueError(f"unknown undo action {raw.get('action')!r}") from None
    return Undo(action, dict(raw.get("detail", {})))


def _entry_from(raw: Any, path: Path) -> Entry:
    if not isinstance(raw, Mapping):
        raise ValueError("not a JSON object")
    if raw.get("schema") != _SCHEMA:
        raise ValueError(f"schema {raw.get('schema')!r}, expected {_SCHEMA}")
    text_fields = ("id", "target", "mode", "fault")
    for name in text_fields:
        if not isinstance(raw.get(name), str) or not raw[name]:
            raise ValueError(f"{name!r} is not a non-empty string")
    if not isinstance(raw.get("at"), int | float) or isinstance(raw.get("at"), bool):
        raise ValueError("'at' is not a number")
    if not isinstance(raw.get("profile"), Mapping) or not isinstance(raw.get("undo"), list):
        raise ValueError("'profile' is not an object or 'undo' not a list")
    return Entry(
        id=raw["id"],
        target=raw["target"],
        profile=dict(raw["profile"]),
        mode=raw["mode"],
        fault=raw["fault"],
        at=float(raw["at"]),
        undo=tuple(_undo_from(step) for step in raw["undo"]),
        events=str(raw.get("events") or ""),
        path=path,
    )


class Ledger:
    """The entries under one directory (:func:`ledger_dir` unless given)."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else ledger_dir()

    def open(
        self,
        target: Target,
        *,
        mode: str,
        fault: str,
        undo: Iterable[Undo],
        events: str = "",
    ) -> Entry:
        """Write an entry durably (before the change it describes) and return it. OSError when it
        cannot be written: then the fault must not go ahead."""
        at = time.time()
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", target.name)  # a profile name is not a path
        entry_id = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(at))}-{safe_name}-{uuid.uuid4().hex[:8]}"
        entry = Entry(entry_id, target.name, profile_of(target), mode, fault, at, tuple(undo), events)
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"{entry_id}{_SUFFIX}"
        temporary = self.directory / f"{_TEMPORARY_PREFIX}{entry_id}"
        data = (json.dumps(entry.as_dict(), indent=2, default=str) + "\n").encode("utf-8")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view) :]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, final)
        _fsync_directory(self.directory)
        return Entry(**{**vars(entry), "path": final})

    def read(self, target: str | None = None) -> tuple[list[Entry], list[Unreadable]]:
        """The open entries (oldest first), for ``target`` when given, and the files that are not
        entries. Half-written temporary files are not entries and are not reported."""
        if not self.directory.is_dir():
            return [], []
        try:
            paths = sorted(self.directory.iterdir())
        except OSError as error:
            return [], [Unreadable(self.directory, f"cannot list the ledger: {error.strerror or error}")]
        entries: list[Entry] = []
        unreadable: list[Unreadable] = []
        for path in paths:
            if path.name.startswith(_TEMPORARY_PREFIX) or path.suffix != _SUFFIX:
                continue
            try:
                entry = _entry_from(json.loads(path.read_bytes().decode("utf-8")), path)
            except (OSError, UnicodeDecodeError, ValueError) as error:
                unreadable.append(
                    Unreadable(path, str(error).splitlines()[0] if str(error) else "unreadable")
                )
                continue
            if target is None or entry.target == target:
                entries.append(entry)
        return sorted(entries, key=lambda e: (e.at, e.id)), unreadable

    def entries(self, target: str | None = None) -> list[Entry]:
        """The open entries (oldest first), for ``target`` when given."""
        return self.read(target)[0]

    @property
    def cleared_directory(self) -> Path:
        """Where cleared entries go, with ``history.jsonl``: who cleared which entry, when, and why."""
        return self.directory / _CLEARED

    def clear(self, entry: Entry, *, by: str, note: str = "") -> None:
        """Close an entry durably, only once its undo is done and Verification 1-5 passed: the file
        (and its acknowledged writes) move to ``cleared/`` and one line is appended to its history."""
        path = entry.path or self.directory / f"{entry.id}{_SUFFIX}"
        cleared = self.cleared_directory
        cleared.mkdir(parents=True, exist_ok=True)
        line = {"id": entry.id, "target": entry.target, "mode": entry.mode, "by": by, "note": note}
        with (cleared / "history.jsonl").open("a", encoding="utf-8") as history:
            history.write(json.dumps(line | {"cleared_at": time.time()}) + "\n")
            history.flush()
            os.fsync(history.fileno())
        acked = path.with_suffix(_ACKED_SUFFIX)
        if acked.exists():
            os.replace(acked, cleared / acked.name)
        if path.exists():
            os.replace(path, cleared / path.name)
        _fsync_directory(cleared)
        _fsync_directory(self.directory)

    @staticmethod
    def acked_path(entry: Entry) -> Path:
        """The file beside a writer's entry listing every write the API acknowledged, one id a line."""
        if entry.path is None:
            raise ValueError(f"entry {entry.id} has no file")
        return entry.path.with_suffix(_ACKED_SUFFIX)

    @classmethod
    def acked_ids(cls, entry: Entry) -> list[int]:
        """The acknowledged ids recorded beside ``entry`` (a torn last line is not an id)."""
        try:
            text = cls.acked_path(entry).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        complete = text.split("\n")[:-1]  # what follows the last newline may be torn
        return [int(line) for line in complete if line.isdigit()]

    def open_lines(self, target: str | None = None, *, platform: str | None = None) -> list[str]:
        """One line per open (or unreadable) entry of ``target`` (or of every target on ``platform``),
        naming the command that restores it; empty when nothing is open. What ``make up``,
        ``make kind-up`` and a game day print."""
        entries, unreadable = self.read(target)
        lines = [
            f"open fault ledger entry {entry.summary()}: run `offgridflow-runbook restore --target "
            f"{entry.target}` (file {entry.path})"
            for entry in entries
            if platform is None or entry.profile.get("platform") == platform
        ]
        lines += [f"unreadable fault ledger file {bad.path}: {bad.reason}" for bad in unreadable]
        return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m offgridflow_runbook.ledger [--target T] [--platform P]``: print one line per open
    entry (``make up`` and ``make kind-up`` call it). Always exit 0: it informs, it never blocks."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m offgridflow_runbook.ledger", description=main.__doc__)
    parser.add_argument("--target", default=None, help="only this target's entries")
    parser.add_argument("--platform", default=None, help="only entries for targets on this platform")
    args = parser.parse_args(argv)
    for line in Ledger().open_lines(args.target, platform=args.platform):
        print(f"WARNING: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
