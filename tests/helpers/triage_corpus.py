"""The triage corpus as data: each recorded look, the label of the fault that was made, and how triage's
verdict compares with it.

Every file under ``scenarios/`` is one look (``diagnose --record``) with a ``scenario`` block:

- ``origin``: ``class`` is ``real-kind`` (the kind cluster: tests/kind/test_kind_diagnose.py, and
  record_kind_scenarios.py on demand), ``real-docker`` (the local stack, record_docker_scenarios.py)
  or ``seeded`` (the real Kubernetes driver against the API fake, seed_scenarios.py); ``by`` names
  the code that made the fault; a seeded look says in ``why_not_real`` why it was not recorded from a
  real system; ``retaken`` says
  when the recorder of the time looked again until triage agreed (so the look kept may not be the first).
- ``label``: written from the fault its maker made, never from the verdict: ``fault`` (what was broken,
  and how), ``family``, ``expert`` (``section``, ``not-covered``, ``healthy`` or ``inconclusive``), the
  ``outcome`` and ``sections`` an expert names (``not covered`` where the runbook has no section, with
  ``should_name``: what the verdict should name), ``unknown`` (sources the look could not read and the
  verdict must name) and ``mentions`` (words its summary or evidence must hold).
- ``expected``: the regression set's verdict, what triage is known to say of this look.
- ``known_miss``: why triage's verdict is not the label's, while it is not (the accuracy test is then
  an xfail, strict: it turns into a failure the day triage gets it right, and the mark goes).

Accuracy is the share of real recordings whose verdict agrees with the label; the regression set is
the whole corpus agreeing with ``expected``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from offgridflow_runbook.probes import record
from offgridflow_runbook.runbook.evidence import DEFAULT_SINCE
from offgridflow_runbook.runbook.triage import NOT_COVERED, Diagnosis, decide

SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "runbook" / "triage" / "scenarios"
REAL = ("real-kind", "real-docker")
ORIGINS = (*REAL, "seeded")
EXPERT = ("section", "not-covered", "healthy", "inconclusive")


def label(
    fault: str,
    family: str,
    outcome: str,
    sections: tuple[str, ...] = (),
    *,
    unknown: tuple[str, ...] = (),
    mentions: tuple[str, ...] = (),
    should_name: str = "",
    remedy: str = "",
) -> dict[str, Any]:
    """A fault's label, as its maker writes it before the look: what was broken and how (``fault``),
    its ``family``, and the verdict an expert gives (``sections`` in the runbook's order; ``not covered``
    with ``should_name`` where the runbook has no section). ``remedy`` notes where the section's own
    commands would not bring the target back."""
    expert = (
        "not-covered"
        if NOT_COVERED in sections
        else outcome
        if outcome in ("healthy", "inconclusive")
        else "section"
    )
    written: dict[str, Any] = {
        "fault": fault,
        "family": family,
        "expert": expert,
        "outcome": outcome,
        "sections": list(sections),
    }
    optional = {
        "unknown": list(unknown),
        "mentions": list(mentions),
        "should_name": should_name,
        "remedy": remedy,
    }
    written.update({key: value for key, value in optional.items() if value})
    return written


def cannot_see(fault: str, *sources: str, mentions: tuple[str, ...] = ()) -> dict[str, Any]:
    """The label of a state whose only fault is what cannot be read: ``inconclusive``, naming ``sources``."""
    return label(fault, "visibility", "inconclusive", unknown=sources, mentions=mentions)


def hung(fault: str, *mentions: str) -> dict[str, Any]:
    """The label of a hung API: it does not answer, and the runbook has no Fix for a hung process."""
    return label(
        fault,
        "hang",
        "unreachable",
        ("Triage 1",),
        mentions=mentions,
        remedy="the runbook has no Fix for a hung process: Triage 1 confirms the API does not answer",
    )


def misses(diagnosis: Diagnosis, expected: Mapping[str, Any]) -> list[str]:
    """How a verdict differs from an expected one (``outcome``, ``sections`` in order, the ``unknown``
    sources it must name, words it must mention); empty when it agrees."""
    found = []
    if str(diagnosis.outcome) != expected["outcome"]:
        found.append(f"outcome {diagnosis.outcome}, not {expected['outcome']}")
    if diagnosis.sections != list(expected["sections"]):
        found.append(f"sections {diagnosis.sections}, not {list(expected['sections'])}")
    unknown = {reading.source for reading in diagnosis.unknowns}
    if missing := sorted(set(expected.get("unknown", [])) - unknown):
        found.append(f"does not name what it could not see: {missing}")
    text = " ".join([diagnosis.summary, *diagnosis.evidence])
    if absent := [word for word in expected.get("mentions", []) if word not in text]:
        found.append(f"does not mention {absent}")
    return found


def verdict_line(diagnosis: Diagnosis) -> str:
    """``outcome [sections]`` in one line, for miss lists and the confusion table."""
    return f"{diagnosis.outcome} {diagnosis.sections}"


def first_section(verdict: Mapping[str, Any] | Diagnosis) -> str:
    """The section named first, or the outcome when none is (``healthy``, ``inconclusive``)."""
    if isinstance(verdict, Diagnosis):
        return verdict.sections[0] if verdict.sections else str(verdict.outcome)
    sections = list(verdict["sections"])
    return str(sections[0]) if sections else str(verdict["outcome"])


@dataclass(frozen=True)
class Scenario:
    """One recording of the corpus and what its metadata says."""

    path: Path
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.path.stem}"

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.raw["scenario"])

    @property
    def origin(self) -> str:
        return str(self.meta["origin"]["class"])

    @property
    def real(self) -> bool:
        return self.origin in REAL

    @property
    def label(self) -> dict[str, Any]:
        return dict(self.meta["label"])

    @property
    def expected(self) -> dict[str, Any]:
        return dict(self.meta["expected"])

    @property
    def known_miss(self) -> str | None:
        reason = self.meta.get("known_miss")
        return str(reason) if reason else None

    @cached_property
    def diagnosis(self) -> Diagnosis:
        """Triage's verdict on the look, with the event window it was recorded with."""
        observations, _ = record.load(self.path)
        return decide(observations, since=record.since_of(self.raw, DEFAULT_SINCE))

    @property
    def label_misses(self) -> list[str]:
        return misses(self.diagnosis, self.label)

    @property
    def regression_misses(self) -> list[str]:
        return misses(self.diagnosis, self.expected)


def load_corpus(directory: Path = SCENARIOS_DIR) -> list[Scenario]:
    """Every recording under ``directory`` (``<platform>/<name>.json``), sorted by id."""
    found = []
    for path in sorted(directory.glob("*/*.json")):
        _, raw = record.load(path)
        found.append(Scenario(path, raw))
    return found


def expected_of(diagnosis: Diagnosis) -> dict[str, Any]:
    """The regression set's verdict of a look: what triage said of it (outcome, sections, unknowns)."""
    expected: dict[str, Any] = {"outcome": str(diagnosis.outcome), "sections": diagnosis.sections}
    if unknown := sorted({reading.source for reading in diagnosis.unknowns}):
        expected["unknown"] = unknown
    return expected


def scenario_block(
    name: str,
    description: str,
    origin: dict[str, Any],
    fault_label: dict[str, Any],
    diagnosis: Diagnosis,
) -> dict[str, Any]:
    """The ``scenario`` block a recorder keeps beside a look it took once: the label written before the
    look, the verdict the look got as the regression set's expectation, and, when they differ, a
    ``known_miss`` saying how (whoever reads it explains why, or fixes triage)."""
    block: dict[str, Any] = {
        "name": name,
        "description": description,
        "origin": origin,
        "label": fault_label,
        "expected": expected_of(diagnosis),
    }
    if found := misses(diagnosis, fault_label):
        block["known_miss"] = f"recorded disagreeing with its label: {'; '.join(found)}"
    return block


def _figure(results: list[tuple[str, ...]]) -> str:
    right = sum(1 for result in results if not result[2])
    return f"{right}/{len(results)} ({100 * right / len(results):.0f}%)" if results else "0/0"


def figure_lines(
    accuracy: list[tuple[str, ...]], regression: list[tuple[str, ...]], retaken: list[tuple[str, ...]] = ()
) -> list[str]:
    """The corpus' two figures as ``make test`` prints them, from (scenario, origin, what is wrong or "",
    the label's verdict, triage's verdict) per recording: accuracy against the labels (real recordings,
    by origin, every miss listed) and the regression set (every wrong one listed)."""
    lines = []
    if accuracy:
        by_origin = ", ".join(
            f"{origin} {_figure([r for r in accuracy if r[1] == origin])}"
            for origin in sorted({r[1] for r in accuracy})
        )
        lines.append(
            f"triage accuracy against the fault labels: {_figure(accuracy)} real recordings right "
            f"({by_origin})"
        )
        lines += [
            f"  miss: {name}: label {labelled}, verdict {verdict}"
            for name, _origin, wrong, labelled, verdict in accuracy
            if wrong
        ]
        if retaken:
            again = {r[0] for r in retaken}
            first = [r for r in accuracy if r[0] not in again]
            lines.append(
                f"  ({len(retaken)} of them kept by an older recorder that looked again until triage "
                f"agreed: a first look that disagreed may be missing; first looks only: {_figure(first)})"
            )
    if regression:
        lines.append(f"triage regression set: {_figure(regression)} recordings give their expected verdict")
        lines += [
            f"  wrong: {name}: {wrong} (verdict {verdict})"
            for name, _origin, wrong, _labelled, verdict in regression
            if wrong
        ]
    return lines
