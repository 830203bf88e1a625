"""How the people in the room talk to a running operator game day: a state directory.

``offgridflow-runbook gameday ack|call|note|abort`` append one JSON line each to
``<state>/commands.jsonl`` (``.state/operator/`` unless ``$OFFGRIDFLOW_OPERATOR_DIR``), one ``write``
then ``fsync``, so a line is either whole or absent; the running game day reads the lines it has not
seen yet on every tick. ``running.json`` says which game day is running (target, mode hidden or not,
the live view's address); a command without a running game day is refused.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offgridflow_runbook.files import create_user_text
from offgridflow_runbook.reporting import append_json_line

__all__ = ["COMMAND_KINDS", "OPERATOR_DIR_ENV", "Command", "Desk", "DeskError"]

OPERATOR_DIR_ENV = "OFFGRIDFLOW_OPERATOR_DIR"
_DEFAULT_DIR = Path(".state/operator")
# what an operator can say; ``call`` and ``note`` carry text
COMMAND_KINDS = ("ack", "call", "note", "abort")


class DeskError(ValueError):
    """No game day is running, or a command is malformed (one line)."""


@dataclass(frozen=True)
class Command:
    """One thing an operator said, when (Unix time) and by whom."""

    kind: str
    at: float
    text: str = ""
    who: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at, "text": self.text, "who": self.who}


class Desk:
    """The state directory of the operator game day on this machine."""

    def __init__(self, directory: Path | str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # the game day's one clock (a fake one in tests)
        self.directory = Path(directory or os.environ.get(OPERATOR_DIR_ENV) or _DEFAULT_DIR)
        self.commands_path = self.directory / "commands.jsonl"
        self.running_path = self.directory / "running.json"
        self._offset = 0

    # -- the running game day ------------------------------------------------------------------------
    def open(self, running: dict[str, Any]) -> None:
        """Start a game day: ``running.json``, then a fresh command log. ``running.json`` is created
        whole and only where none is, so of two game days started at once one is refused, and the
        command log of the one that runs is never emptied by the other."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            create_user_text(self.running_path, json.dumps(running, sort_keys=True) + "\n")
        except FileExistsError:
            raise DeskError(
                f"an operator game day is already running ({self.running_path}); "
                "`offgridflow-runbook gameday abort` ends it"
            ) from None
        self.commands_path.write_text("", encoding="utf-8")
        self._offset = 0

    def close(self) -> None:
        """The game day ended: commands are refused from now on (the log stays for the record)."""
        self.running_path.unlink(missing_ok=True)

    def running(self) -> dict[str, Any] | None:
        try:
            document = json.loads(self.running_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return document if isinstance(document, dict) else None

    def new_commands(self) -> list[Command]:
        """The commands appended since the last call (a partial last line waits for the next)."""
        try:
            with self.commands_path.open("rb") as stream:
                stream.seek(self._offset)
                data = stream.read()
        except OSError:
            return []
        commands = []
        consumed = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break
            consumed += len(line)
            try:
                raw = json.loads(line)
                commands.append(
                    Command(
                        str(raw["kind"]), float(raw["at"]), str(raw.get("text", "")), str(raw.get("who", ""))
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue  # a malformed line is nobody's command
        self._offset += consumed
        return commands

    # -- the people ----------------------------------------------------------------------------------
    def send(self, kind: str, text: str = "", *, at: float | None = None) -> Command:
        """Append one command for the running game day."""
        if kind not in COMMAND_KINDS:
            raise DeskError(f"unknown command {kind!r}; one of {', '.join(COMMAND_KINDS)}")
        if kind in ("call", "note") and not text.strip():
            raise DeskError(f"`gameday {kind}` needs a text")
        if self.running() is None:
            raise DeskError(f"no operator game day is running (no {self.running_path})")
        command = Command(kind, self.clock() if at is None else at, text.strip(), os.environ.get("USER", ""))
        append_json_line(self.commands_path, command.as_dict())
        return command
