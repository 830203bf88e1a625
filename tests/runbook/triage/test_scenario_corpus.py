"""The triage scenario corpus: recorded looks (``diagnose --record``) with the verdict each must get.

Each file under ``scenarios/`` is one look at a target in a known state - recorded from the real local
Docker stack (``docker/``), from the real kind cluster (``kind/``: tests/kind/test_kind_diagnose.py
with OFFGRIDFLOW_RECORD_SCENARIOS), or seeded through the real Kubernetes driver (``kubernetes/``,
``seed_scenarios.py``, for the states not yet made on kind) - with the expected outcome and the
candidate sections in the order the runbook says to act. A verdict is right only when both match
exactly: a wrong section, a missing or extra candidate, or a verdict more certain than the look allows
(healthy or a cause where the look could not see) fails, and the run prints the corpus' accuracy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from offgridflow_runbook.probes import record
from offgridflow_runbook.runbook.evidence import DEFAULT_SINCE
from offgridflow_runbook.runbook.triage import decide

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*/*.json"))
# What the issue asks the corpus to cover at least (a file may cover it on either platform).
REQUIRED = {
    "healthy",
    "oom",
    "image-pull",
    "config-crash",
    "db-pod-missing",
    "db-not-ready",
    "db-refusing-connections",
    "db-too-many-connections",
    "no-endpoints",
    "ingress-missing",
    "api-hung",
    "monitoring-down",
    "exec-forbidden",
    "metrics-api-missing",
    "oom-and-db-down",
    "only-stale-events",
}


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def test_the_corpus_covers_every_required_state() -> None:
    names = {path.stem for path in SCENARIOS}
    assert names >= REQUIRED, f"missing scenarios: {sorted(REQUIRED - names)}"


@pytest.mark.parametrize("path", SCENARIOS, ids=_id)
def test_triage_gives_the_expected_verdict(path: Path, corpus_results: list[tuple[str, bool, str]]) -> None:
    observations, raw = record.load(path)
    expected = raw["scenario"]["expected"]
    diagnosis = decide(
        observations, since=record.since_of(raw, DEFAULT_SINCE)
    )  # the window it was recorded with
    got = {"outcome": str(diagnosis.outcome), "sections": diagnosis.sections}
    right = got == {"outcome": expected["outcome"], "sections": expected["sections"]}
    unknown = {reading.source for reading in diagnosis.unknowns}
    missing_unknown = set(expected.get("unknown", [])) - unknown
    right = right and not missing_unknown
    corpus_results.append((_id(path), right, f"got {got}, expected {expected}"))
    assert got["outcome"] == expected["outcome"], (diagnosis.summary, diagnosis.evidence)
    assert got["sections"] == expected["sections"], (diagnosis.summary, diagnosis.evidence)
    assert not missing_unknown, f"the verdict does not name what it could not see: {sorted(missing_unknown)}"
