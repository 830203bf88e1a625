"""Proofs that age: every passing game-day run (automatic or operator, per mode and target), kept with
its date, and how old the last proof of each runbook step is.

A passing run proves the steps it exercised: Triage 1 (the issue was confirmed), the section that
fixed its fault, and Verification 1-5. Each proof is one JSON line in ``reports/proofs/proofs.jsonl``
(``$OFFGRIDFLOW_PROOFS``), written with one ``write`` and ``fsync``. The runbook says game days are
quarterly, so a proof older than :data:`QUARTER` is stale; ``offgridflow-runbook coverage
--max-proof-age 90d`` fails (exit 1) on a stale or missing proof. A proofs file that cannot be read
(a directory, a device, not UTF-8) is a :class:`ProofsError`, one line; a missing one holds no proofs.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offgridflow_runbook.files import NotARegularFile, read_user_text
from offgridflow_runbook.reporting import append_json_line
from offgridflow_runbook.runbook.document import Runbook
from offgridflow_runbook.runbook.location import RunbookError

__all__ = [
    "PROOFS_ENV",
    "QUARTER",
    "Proof",
    "ProofsError",
    "StepProof",
    "parse_age",
    "proof_table",
    "proofs_path",
    "read_proofs",
    "record_proof",
    "step_proofs",
    "steps_proven_by",
]

PROOFS_ENV = "OFFGRIDFLOW_PROOFS"
_DEFAULT = Path("reports/proofs/proofs.jsonl")
QUARTER = 92 * 86400.0  # seconds: the longest quarter
_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


class ProofsError(RunbookError):
    """The proofs file cannot be read; one line naming it. A :class:`RunbookError`: the proofs are the
    runbook's, and the command line reports it as it does an unreadable runbook (exit 64)."""


@dataclass(frozen=True)
class Proof:
    """One passing run: when, where, how (``automatic`` or ``operator``), which mode, which steps."""

    at: float
    target: str
    platform: str
    kind: str
    mode: str
    steps: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "date": datetime.fromtimestamp(self.at, UTC).isoformat(timespec="seconds"),
            "target": self.target,
            "platform": self.platform,
            "kind": self.kind,
            "mode": self.mode,
            "steps": list(self.steps),
        }


def proofs_path() -> Path:
    return Path(os.environ.get(PROOFS_ENV) or _DEFAULT)


def steps_proven_by(runbook: Runbook, section: str) -> tuple[str, ...]:
    """The steps a passing run of a fault fixed by ``section`` proves (read from the runbook)."""
    verification = tuple(step.id for step in runbook.steps if step.kind == "verification")
    return ("Triage 1", section, *verification)


def record_proof(proof: Proof, path: Path | None = None) -> Path:
    """Append one proof durably."""
    where = path or proofs_path()
    where.parent.mkdir(parents=True, exist_ok=True)
    append_json_line(where, proof.as_dict())
    return where


def _read_text(where: Path) -> str:
    """The proofs file's text, "" when there is none yet; :class:`ProofsError` otherwise."""
    try:
        return read_user_text(where)
    except FileNotFoundError:
        return ""
    except IsADirectoryError:
        raise ProofsError(
            f"proofs file {where} is a directory, not a JSON-lines file ({PROOFS_ENV})"
        ) from None
    except NotARegularFile:
        raise ProofsError(f"proofs file {where} is not a regular file ({PROOFS_ENV})") from None
    except UnicodeDecodeError as error:
        raise ProofsError(
            f"proofs file {where} is not UTF-8 text (byte {error.start}: {error.reason})"
        ) from None
    except OSError as error:
        raise ProofsError(f"proofs file {where} cannot be read: {error.strerror or error}") from None


def _when(raw: Any) -> float:
    """A proof's ``at`` as seconds; ValueError unless it is a date (NaN, inf, 1e300 are not)."""
    at = float(raw)
    try:
        datetime.fromtimestamp(at, UTC)
    except (OverflowError, OSError) as error:
        raise ValueError(f"at {raw!r} is not a date") from error
    return at


def read_proofs(path: Path | None = None) -> list[Proof]:
    """Every readable proof (a malformed line, or one whose ``at`` is no date, proves nothing and is
    skipped); :class:`ProofsError` when the file cannot be read."""
    proofs = []
    for line in _read_text(path or proofs_path()).splitlines():
        try:
            raw = json.loads(line)
            proofs.append(
                Proof(
                    _when(raw["at"]),
                    str(raw["target"]),
                    str(raw["platform"]),
                    str(raw["kind"]),
                    str(raw["mode"]),
                    tuple(str(step) for step in raw["steps"]),
                )
            )
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: [[[[... nested deep
            continue
    return proofs


@dataclass(frozen=True)
class StepProof:
    """A runbook step and its latest proof (None: never proven)."""

    step: str
    proof: Proof | None
    age_s: float | None
    stale: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "last_proven": self.proof.as_dict() if self.proof else None,
            "age_days": round(self.age_s / 86400, 1) if self.age_s is not None else None,
            "stale": self.stale,
        }


def step_proofs(
    runbook: Runbook,
    proofs: list[Proof],
    provable: Collection[str],
    *,
    now: float | None = None,
    max_age_s: float = QUARTER,
) -> list[StepProof]:
    """Per step a game day can prove (``provable``: the union of :func:`steps_proven_by` over the
    modes), in the runbook's order, its latest proof."""
    now = time.time() if now is None else now
    out = []
    for step in runbook.steps:
        if step.id not in provable:
            continue
        mine = [proof for proof in proofs if step.id in proof.steps]
        latest = max(mine, key=lambda proof: proof.at) if mine else None
        age = now - latest.at if latest else None
        out.append(StepProof(step.id, latest, age, age is None or age > max_age_s))
    return out


def proof_table(rows: list[StepProof]) -> str:
    """One line per step: when and where it was last proven, ``STALE`` when too old or never."""
    lines = []
    for row in rows:
        if row.proof is None:
            lines.append(f"{row.step:<16} never proven by a game day  STALE")
            continue
        date = datetime.fromtimestamp(row.proof.at, UTC).strftime("%Y-%m-%d")
        where = f"{row.proof.kind} {row.proof.mode} on {row.proof.target}"
        age = f"{(row.age_s or 0) / 86400:.0f} days ago"
        lines.append(f"{row.step:<16} proven {date} ({age}) by {where}{'  STALE' if row.stale else ''}")
    return "\n".join(lines)


def parse_age(text: str) -> float:
    """``90d``, ``12w``, ``36h`` ... in seconds; ValueError (one line) otherwise."""
    match = _AGE.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"an age like 90d, 12w or 36h, not {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]
