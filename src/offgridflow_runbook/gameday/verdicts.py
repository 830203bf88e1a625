"""Triage's verdicts during one experiment, from the fault to the fix: the first, the time to the
right one, and the wrong ones an on-call engineer would have seen on the way.

The ``verdict`` events come from ``diagnose`` run from the fault until the fix starts (see
``offgridflow_runbook.chaos``), exactly as an operator would run it by hand. A verdict is right when
its first candidate is the experiment's fix; an inconclusive verdict is not wrong, but not right.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from offgridflow_runbook.gameday.events import EventKind, EventLog, GamedayEvent, rounded
from offgridflow_runbook.gameday.findings import FindingId
from offgridflow_runbook.runbook.triage import Diagnosis

__all__ = ["TriageVerdicts", "VerdictRecorder", "triage_verdicts"]


@dataclass(frozen=True)
class TriageVerdicts:
    """The verdicts between the fault and the fix (times in seconds since the fault)."""

    verdicts: list[dict[str, Any]] = field(default_factory=list)
    first_s: float | None = None
    first_section: str | None = None
    right_s: float | None = None  # the first verdict naming the expected fix first
    wrong: list[str] = field(default_factory=list)  # distinct wrong verdicts, in the order seen

    def as_dict(self) -> dict[str, Any]:
        return {
            "first_verdict_s": rounded(self.first_s),
            "first_section": self.first_section,
            "right_verdict_s": rounded(self.right_s),
            "wrong_verdicts": list(self.wrong),
            "verdicts": list(self.verdicts),
        }

    def findings(self, expected: str) -> list[tuple[FindingId, str]]:
        """What the runbook's owners should hear about triage in this experiment (id, evidence)."""
        found = []
        if self.wrong:
            found.append(
                (
                    FindingId.TRIAGE_WRONG_FIRST,
                    f"triage said {', '.join(self.wrong)} before naming {expected}"
                    + (f" ({self.right_s:.0f} s after the fault)" if self.right_s is not None else ""),
                )
            )
        if self.verdicts and self.right_s is None:
            found.append(
                (
                    FindingId.TRIAGE_NEVER_RIGHT,
                    f"triage never named {expected} first between the fault and the fix",
                )
            )
        return found


def triage_verdicts(
    events: list[GamedayEvent], *, fault_at: float | None, fix_at: float | None, expected: str
) -> TriageVerdicts:
    """The verdicts recorded at or after the fault and before the fix (all of them when no fix ran)."""
    if fault_at is None:
        return TriageVerdicts()
    seen = [
        e
        for e in sorted(events, key=lambda e: e.at)
        if e.kind == EventKind.VERDICT and e.at >= fault_at and (fix_at is None or e.at <= fix_at)
    ]
    verdicts: list[dict[str, Any]] = []
    wrong: list[str] = []
    right_s = None
    for event in seen:
        detail = event.detail
        section = str(detail.get("section", ""))
        outcome = str(detail.get("outcome", ""))
        right = outcome == "diagnosed" and section == expected
        shown = f"{section} ({outcome})"
        if verdicts and verdicts[-1]["shown"] == shown:
            continue  # the watch and the probe may both see the same verdict
        verdicts.append(
            {
                "at_s": round(event.at - fault_at, 2),
                "outcome": outcome,
                "section": section,
                "sections": list(detail.get("sections", [])),
                "summary": str(detail.get("summary", "")),
                "unknown": list(detail.get("unknown", [])),
                "right": right,
                "shown": shown,
            }
        )
        if right and right_s is None:
            right_s = event.at - fault_at
        # "healthy" right after the fault is the failure not showing yet, "inconclusive" a gap that is
        # named; a verdict naming another section is what would send on-call the wrong way.
        wrong_now = outcome in ("diagnosed", "unreachable") and not right
        if wrong_now and right_s is None and shown not in wrong:
            wrong.append(shown)
    first = verdicts[0] if verdicts else None
    return TriageVerdicts(
        verdicts=verdicts,
        first_s=first["at_s"] if first else None,
        first_section=first["section"] if first else None,
        right_s=right_s,
        wrong=wrong,
    )


class VerdictRecorder:
    """Records a verdict when it differs from the previous one recorded for this experiment."""

    def __init__(self, log: EventLog, source: str) -> None:
        self.log = log
        self.source = source
        self._last: tuple[object, ...] | None = None
        self._lock = threading.Lock()

    def record(self, diagnosis: Diagnosis) -> None:
        key = (str(diagnosis.outcome), tuple(diagnosis.sections), str(diagnosis.cause))
        with self._lock:
            if key == self._last:
                return
            self._last = key
        self.log.record(
            "verdict",
            source=self.source,
            outcome=str(diagnosis.outcome),
            cause=str(diagnosis.cause),
            section=diagnosis.section,
            sections=list(diagnosis.sections),
            summary=diagnosis.summary,
            unknown=[f"{r.source}: {r.detail}" for r in diagnosis.unknowns],
        )
