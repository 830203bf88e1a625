"""The game day's event log: one JSON line per moment that matters (fault, detection, fix, recovery).

Chaos Toolkit's own journal says which activities ran; it does not say *when the failure showed* or
*when the service came back*. Every activity of the extension therefore appends to
``<gameday_dir>/<mode>/events.jsonl``, and the scorecard is computed from those lines. Appends are
single ``write`` calls of one line, so concurrent writers (the background writer thread) never
interleave within a line.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_GAMEDAY_DIR",
    "EVENT_KINDS",
    "EventKind",
    "EventLog",
    "GamedayEvent",
    "first_event",
    "gameday_dir",
    "rounded",
]

DEFAULT_GAMEDAY_DIR = "reports/gameday/runs"
GAMEDAY_DIR_ENV = "OFFGRIDFLOW_GAMEDAY_DIR"


# What each kind means:
#   phase          an experiment phase starts (progress output), detail {"phase": ...}
#   fault_at       the fault was applied
#   detected_at    a detection probe first saw the failure, detail {"signal": ...}
#   diagnosis      triage named the expected section, detail {"cause", "section", "summary"}
#   verdict        triage's verdict changed (from the fault to the fix), detail {"source", "outcome",
#                  "cause", "section", "sections" (every candidate, first what to do first),
#                  "summary", "unknown" (what it could not see)}
#   self_healed_at the fault went away with no fix (a controller replaced what it broke), detail
#                  {"after_s": seconds since the fault}; triage and the fix then step aside
#   fix_started_at the runbook's fix started, detail {"fix": ...}
#   recovered_at   the service is back: Verification 1-4 pass (5 may lag: alerts resolving, the
#                  5-minute error rate still counting the outage's 5xx answers)
#   verified_at    Verification 1-5 passed, detail {"waited_on": [steps that were failing]}
#   writes         the background writer stopped, detail {"acked": [...], "failed": n}
#   lost_writes    acked writes checked afterwards, detail {"acked": n, "lost": [...]}
#   finding        something the runbook should know (an alert that stayed silent, ...)
#   note           anything else worth keeping in the timeline
#   identity       what answered when the chaos guard let an activity change the target, detail
#                  {"activity", "target", "fingerprint", "seen": platforms.identity.SeenIdentity}
class EventKind(StrEnum):
    """What an event log line records (the comment above says what each means)."""

    PHASE = "phase"
    FAULT_AT = "fault_at"
    DETECTED_AT = "detected_at"
    DIAGNOSIS = "diagnosis"
    VERDICT = "verdict"
    SELF_HEALED_AT = "self_healed_at"
    FIX_STARTED_AT = "fix_started_at"
    RECOVERED_AT = "recovered_at"
    VERIFIED_AT = "verified_at"
    WRITES = "writes"
    LOST_WRITES = "lost_writes"
    FINDING = "finding"
    NOTE = "note"
    IDENTITY = "identity"


EVENT_KINDS = tuple(EventKind)


def gameday_dir(configuration: Mapping[str, Any] | None = None) -> Path:
    """Where the run's event logs go: the experiment's ``gameday_dir``, else the environment, else
    ``reports/gameday/runs``."""
    configured = (configuration or {}).get("gameday_dir")
    return Path(str(configured or os.environ.get(GAMEDAY_DIR_ENV) or DEFAULT_GAMEDAY_DIR))


@dataclass(frozen=True)
class GamedayEvent:
    """One line of the event log."""

    kind: str
    at: float  # Unix time, seconds
    mode: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "at": self.at,
            "at_iso": self.when.isoformat(),
            "mode": self.mode,
            "detail": self.detail,
        }


def first_event(
    events: Iterable[GamedayEvent], kind: EventKind, *, after: float | None = None
) -> GamedayEvent | None:
    """The first event of ``kind`` in ``events`` (in their order) at or after ``after``."""
    return next((e for e in events if e.kind == kind and (after is None or e.at >= after)), None)


def rounded(seconds: float | None) -> float | None:
    """Seconds as the game day's reports show them: to the hundredth, ``None`` kept."""
    return round(seconds, 2) if seconds is not None else None


class EventLog:
    """Appends to and reads one experiment's ``events.jsonl``."""

    def __init__(self, directory: Path | str, mode: str) -> None:
        self.mode = mode
        self.path = Path(directory) / mode / "events.jsonl"

    @classmethod
    def for_configuration(cls, configuration: Mapping[str, Any] | None) -> EventLog:
        mode = str((configuration or {}).get("mode") or "adhoc")
        return cls(gameday_dir(configuration), mode)

    def record(self, kind: EventKind | str, *, at: float | None = None, **detail: Any) -> GamedayEvent:
        """Append one event (now, unless ``at`` is given) and return it."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; known: {', '.join(EVENT_KINDS)}")
        event = GamedayEvent(EventKind(kind), time.time() if at is None else at, self.mode, dict(detail))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(event.as_dict(), default=str) + "\n"
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
        return event

    def read(self) -> list[GamedayEvent]:
        """Every event so far, oldest first (a half-written last line is ignored)."""
        if not self.path.exists():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                raw = json.loads(line)
            except ValueError:
                continue
            events.append(GamedayEvent(raw["kind"], float(raw["at"]), raw["mode"], raw.get("detail") or {}))
        return sorted(events, key=lambda event: event.at)

    def first(self, kind: EventKind, *, after: float | None = None) -> GamedayEvent | None:
        """The earliest event of ``kind`` (at or after ``after``)."""
        return first_event(self.read(), kind, after=after)

    @property
    def previous_path(self) -> Path:
        """Where :meth:`reset` keeps the previous run's log."""
        return self.path.with_name("events.previous.jsonl")

    def reset(self) -> None:
        """Start a fresh log for a new run of the experiment. The previous run's log is kept aside
        (one generation, ``events.previous.jsonl``), never deleted: a run killed during its fault
        recorded there what its rollbacks would have needed (the fault ledger holds what restore
        needs; this keeps the record for the person looking)."""
        if self.path.exists():
            os.replace(self.path, self.previous_path)
