"""The phases of an operator game day on one clock, each with its evidence, against the runbook.

A phase is reached when something really happens, never when a timer says so:

- ``injected``: the fault activity returned (the chaos fault functions record ``fault_at``);
- ``detected``: a page for this fault was delivered to the alert receiver (``GET /deliveries``);
- ``acknowledged``: an operator said ``gameday ack``;
- ``diagnosed``: the first *right* ``gameday call`` (the section of the injected fault's experiment);
  every call is kept, right or wrong;
- ``fixed``: the first change a runbook fix makes was seen on the target, whoever made it, with the
  section that change belongs to (every later change is kept too; the safety net's is ``auto``, and
  the run is then scored missed);
- ``verified``: Verification 1-5 passed after the page.

Each human phase runs from the phase before it and is held against the runbook's own budget for it,
the same budgets the automated scorecard uses (:data:`PHASE_BUDGETS` names them), and against the
automated game day's figure for the same mode when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PHASES", "PHASE_BUDGETS", "Call", "FixSeen", "OperatorRun"]

PHASES = ("injected", "detected", "acknowledged", "diagnosed", "fixed", "verified")
# human phase -> the scorecard budget (gameday.scorecard.BUDGET_HEADINGS: the runbook heading whose
# "(N minutes)" sets it): confirm the page (Triage 1), identify the cause (Triage 2), apply the fix
# (Quick Fix), verify (Verification)
PHASE_BUDGETS = {"acknowledged": "confirm", "diagnosed": "identify", "fixed": "fix", "verified": "verify"}
# the automated scorecard's figure for the same span (scorecard.json, per mode)
_AUTOMATED = {"detected": "mttd_s", "verified": "mttr_s"}


@dataclass(frozen=True)
class Call:
    """One diagnosis an operator called: a runbook section, when, and whether it is the fault's."""

    section: str
    at: float
    right: bool


@dataclass(frozen=True)
class FixSeen:
    """A change a runbook fix makes, seen on the target: which section it belongs to, what changed,
    when it was seen, and whether the safety net (not a person) made it."""

    section: str
    change: str
    at: float
    auto: bool = False


@dataclass
class OperatorRun:
    """What happened in one operator game day, on one clock (Unix seconds)."""

    mode: str
    section: str  # the runbook section that fixes the injected fault
    target: str
    started_at: float
    fault_at: float | None = None
    page: dict[str, Any] | None = None
    detected_at: float | None = None
    acked_at: float | None = None
    calls: list[Call] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    fixes: list[FixSeen] = field(default_factory=list)  # every change a fix makes, in order
    verified_at: float | None = None
    aborted_at: float | None = None
    lines: list[str] = field(default_factory=list)  # the terminal's lines, for the live view

    # -- what happened --------------------------------------------------------------------------------
    def call(self, section: str, at: float) -> Call:
        made = Call(section, at, section.casefold() == self.section.casefold())
        self.calls.append(made)
        return made

    @property
    def first_right_call(self) -> Call | None:
        return next((c for c in self.calls if c.right), None)

    @property
    def fix(self) -> FixSeen | None:
        """The first change a runbook fix makes seen on the target (the ``fixed`` phase)."""
        return self.fixes[0] if self.fixes else None

    @property
    def auto_fixed(self) -> bool:
        return any(fix.auto for fix in self.fixes)

    def reached(self) -> dict[str, float | None]:
        """When each phase was reached (None: not yet)."""
        right = self.first_right_call
        return {
            "injected": self.fault_at,
            "detected": self.detected_at,
            "acknowledged": self.acked_at,
            "diagnosed": right.at if right else None,
            "fixed": self.fix.at if self.fix else None,
            "verified": self.verified_at,
        }

    @property
    def phase(self) -> str:
        """The furthest phase reached ("aborted" once aborted, "starting" before the fault)."""
        if self.aborted_at is not None:
            return "aborted"
        reached = [name for name, at in self.reached().items() if at is not None]
        return reached[-1] if reached else "starting"

    @property
    def finished(self) -> bool:
        return self.verified_at is not None or self.aborted_at is not None

    # -- against the runbook --------------------------------------------------------------------------
    def _span_start(self, phase: str) -> float | None:
        """A phase runs from the latest earlier phase reached (a skipped one does not stop the clock)."""
        reached = self.reached()
        earlier = [reached[name] for name in PHASES[: PHASES.index(phase)] if reached[name] is not None]
        return max(earlier) if earlier else None  # type: ignore[type-var]

    def budgets(self, budgets_s: dict[str, float], now: float) -> dict[str, dict[str, Any]]:
        """Each human phase against its runbook budget: running (``left_s`` counts down) or done."""
        reached = self.reached()
        out: dict[str, dict[str, Any]] = {}
        for phase, budget in PHASE_BUDGETS.items():
            start = self._span_start(phase)
            end = reached[phase]
            budget_s = budgets_s[budget]
            elapsed = None if start is None else (end if end is not None else now) - start
            out[phase] = {
                "budget": budget,
                "budget_s": budget_s,
                "elapsed_s": _round(elapsed),
                "left_s": _round(budget_s - elapsed) if elapsed is not None else None,
                "done": end is not None,
                "met": end is not None and elapsed is not None and elapsed <= budget_s,
            }
        return out

    def outage_s(self, now: float) -> float | None:
        if self.fault_at is None:
            return None
        end = self.verified_at if self.verified_at is not None else now
        return end - self.fault_at

    def outcome(self) -> str:
        """``passed`` (verified, the right call made, not fixed by the safety net), ``missed`` (the
        safety net fixed it, or it was verified without the right call), ``aborted``, or ``running``."""
        if self.aborted_at is not None:
            return "aborted"
        if self.verified_at is None:
            return "running"
        if self.auto_fixed or self.first_right_call is None:
            return "missed"
        return "passed"

    def score(
        self, budgets_s: dict[str, float], sla_s: float, now: float, automated: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The operator section of the scorecard."""
        reached = self.reached()
        right = self.first_right_call
        budgets = self.budgets(budgets_s, now)
        for phase, key in PHASE_BUDGETS.items():
            figure = ((automated or {}).get("budgets") or {}).get(key) or {}
            budgets[phase]["automated_s"] = figure.get("actual_s")
        outage = self.outage_s(now)
        return {
            "mode": self.mode,
            "target": self.target,
            "section": self.section,
            "outcome": self.outcome(),
            "phase": self.phase,
            "started_at": self.started_at,
            "fault_at": self.fault_at,
            "reached_s": {
                name: _round(at - self.fault_at) if at is not None and self.fault_at is not None else None
                for name, at in reached.items()
            },
            "automated_s": {name: (automated or {}).get(key) for name, key in _AUTOMATED.items()},
            "page": self.page,
            "calls": [
                {
                    "section": c.section,
                    "right": c.right,
                    "after_fault_s": _round(c.at - self.fault_at) if self.fault_at is not None else None,
                }
                for c in self.calls
            ],
            "time_to_first_right_call_s": _round(right.at - self.fault_at)
            if right is not None and self.fault_at is not None
            else None,
            "wrong_calls": sum(1 for c in self.calls if not c.right),
            "fix_seen": self._fix_dict(self.fix) if self.fix else None,
            "fixes_seen": [self._fix_dict(fix) for fix in self.fixes],
            "auto_fixed": self.auto_fixed,
            "budgets": budgets,
            "outage_s": _round(outage),
            "sla_s": sla_s,
            "sla_met": outage is not None and self.verified_at is not None and outage < sla_s,
            "notes": list(self.notes),
        }

    def _fix_dict(self, fix: FixSeen) -> dict[str, Any]:
        return {
            "section": fix.section,
            "change": fix.change,
            "auto": fix.auto,
            "right": fix.section.casefold() == self.section.casefold(),
            "after_fault_s": _round(fix.at - self.fault_at) if self.fault_at is not None else None,
        }


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None
