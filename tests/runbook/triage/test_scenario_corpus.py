"""The triage scenario corpus: recorded looks (``diagnose --record``), each with the label of the fault
that was made and the verdict the regression set expects (see ``helpers.triage_corpus``).

Each file under ``scenarios/`` is one look at a target in a known state - recorded from the real local
Docker stack (``docker/``: record_docker_scenarios.py), from the real kind cluster (``kind/``:
tests/kind/test_kind_diagnose.py with OFFGRIDFLOW_RECORD_SCENARIOS, and record_kind_scenarios.py),
or seeded through the real Kubernetes driver (``kubernetes/``, ``seed_scenarios.py``).
Two figures come out of it, printed at the end of the run:

- **accuracy**: over the real recordings, triage's verdict against the fault's label (written from the
  fault, never from a verdict), every miss listed. A recording whose verdict is known not to be its
  label's is an xfail, strict, with the reason: it fails the build the day triage gets it right.
- **regression set**: the whole corpus against the verdicts it is known to get (``expected``).
A verdict agrees only when the outcome and the candidate sections (in order) match exactly, it names
every source it could not see, and it mentions what the label says it must.
"""

from __future__ import annotations

import pytest

from helpers.triage_corpus import EXPERT, ORIGINS, Scenario, load_corpus, verdict_line
from offgridflow_runbook.runbook.triage import NOT_COVERED, Outcome

CORPUS = load_corpus()
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
NO_REAL_RECORDING = "NO REAL RECORDING"


def _against_label(scenario: Scenario) -> object:
    marks = (
        [pytest.mark.xfail(strict=True, reason=scenario.known_miss)]
        if scenario.known_miss is not None
        else []
    )
    return pytest.param(scenario, marks=marks, id=scenario.id)


def test_the_corpus_covers_every_required_state() -> None:
    names = {scenario.path.stem for scenario in CORPUS}
    assert names >= REQUIRED, f"missing scenarios: {sorted(REQUIRED - names)}"


@pytest.mark.parametrize("scenario", CORPUS, ids=lambda scenario: scenario.id)
def test_every_recording_has_a_label_and_says_where_it_comes_from(scenario: Scenario) -> None:
    label, origin = scenario.label, scenario.meta["origin"]
    assert origin["class"] in ORIGINS
    assert origin["by"]
    assert label["fault"]
    assert label["family"]
    assert label["expert"] in EXPERT
    assert label["outcome"] in set(Outcome)
    assert (label["expert"] == "not-covered") == (NOT_COVERED in label["sections"])
    if label["expert"] == "not-covered":
        assert label["should_name"], "a not-covered label says what the verdict should name"
    if label["expert"] in ("healthy", "inconclusive"):
        assert label["sections"] == []
    if scenario.origin == "seeded":
        assert origin["why_not_real"], "a seeded look says why it was not recorded from a real system"


def test_the_seeded_states_say_truly_whether_a_real_recording_exists() -> None:
    real = {scenario.id for scenario in CORPUS if scenario.real}
    real_states = {scenario.path.stem for scenario in CORPUS if scenario.real}
    for scenario in CORPUS:
        if scenario.origin != "seeded":
            continue
        why = scenario.meta["origin"]["why_not_real"]
        if why.startswith(NO_REAL_RECORDING):
            assert scenario.path.stem not in real_states, f"{scenario.id} says no real recording exists"
        for claimed in [word.strip(",;()") for word in why.split() if "/" in word]:
            if claimed.startswith(("kind/", "docker/")):
                assert claimed in real, f"{scenario.id} claims a real recording {claimed} that is not there"
    # the one required state no real system has shown yet, said so in its metadata
    unrecorded = REQUIRED - real_states
    assert unrecorded == {"db-refusing-connections"}, unrecorded
    (seeded,) = [s for s in CORPUS if s.path.stem == "db-refusing-connections"]
    assert seeded.meta["origin"]["why_not_real"].startswith(NO_REAL_RECORDING)


@pytest.mark.parametrize("scenario", [_against_label(s) for s in CORPUS])
def test_triage_agrees_with_the_fault_label(
    scenario: Scenario, corpus_results: dict[str, list[tuple[str, ...]]]
) -> None:
    found = scenario.label_misses
    if scenario.real:
        if scenario.meta["origin"].get("retaken"):
            corpus_results["retaken"].append((scenario.id,))
        corpus_results["accuracy"].append(
            (
                scenario.id,
                scenario.origin,
                "" if not found else "miss",
                _label_line(scenario),
                verdict_line(scenario.diagnosis),
            )
        )
    assert not found, (scenario.id, found, scenario.diagnosis.summary)


@pytest.mark.parametrize("scenario", CORPUS, ids=lambda scenario: scenario.id)
def test_triage_gives_the_expected_verdict(
    scenario: Scenario, corpus_results: dict[str, list[tuple[str, ...]]]
) -> None:
    found = scenario.regression_misses
    corpus_results["regression"].append(
        (
            scenario.id,
            scenario.origin,
            "" if not found else "; ".join(found),
            "",
            verdict_line(scenario.diagnosis),
        )
    )
    assert not found, (scenario.id, found, scenario.diagnosis.summary, scenario.diagnosis.evidence)


def _label_line(scenario: Scenario) -> str:
    label = scenario.label
    return f"{label['outcome']} {label['sections']}"


def test_a_recorder_keeps_a_look_that_disagrees_with_its_label_as_a_known_miss() -> None:
    from helpers.triage_corpus import label, misses, scenario_block

    (healthy,) = [s for s in CORPUS if s.id == "kind/healthy"]
    wrong = label("pretend the database was killed", "database", "diagnosed", ("Fix 1",))
    block = scenario_block("x", "y", {"class": "real-kind", "by": "z"}, wrong, healthy.diagnosis)
    assert block["label"] is wrong
    assert block["expected"] == {"outcome": "healthy", "sections": []}  # what the look got, kept as it is
    assert block["known_miss"] == (
        "recorded disagreeing with its label: outcome healthy, not diagnosed; sections [], not ['Fix 1']"
    )
    assert misses(healthy.diagnosis, healthy.label) == []
    assert "known_miss" not in scenario_block("x", "y", {}, healthy.label, healthy.diagnosis)


def test_the_figures_list_every_miss_with_its_label_and_verdict() -> None:
    from helpers.triage_corpus import figure_lines

    accuracy = [
        ("kind/oom", "real-kind", "", "diagnosed ['Fix 2']", "diagnosed ['Fix 2']"),
        ("kind/x", "real-kind", "miss", "diagnosed ['Fix 1']", "diagnosed ['not covered']"),
        ("docker/oom", "real-docker", "", "diagnosed ['Fix 2']", "diagnosed ['Fix 2']"),
    ]
    regression = [("kind/x", "real-kind", "sections ['Fix 1'], not ['Fix 2']", "", "diagnosed ['Fix 1']")]
    assert figure_lines(accuracy, regression, [("kind/x",)]) == [
        "triage accuracy against the fault labels: 2/3 (67%) real recordings right "
        "(real-docker 1/1 (100%), real-kind 1/2 (50%))",
        "  miss: kind/x: label diagnosed ['Fix 1'], verdict diagnosed ['not covered']",
        "  (1 of them kept by an older recorder that looked again until triage agreed: a first look that "
        "disagreed may be missing; first looks only: 2/2 (100%))",
        "triage regression set: 0/1 (0%) recordings give their expected verdict",
        "  wrong: kind/x: sections ['Fix 1'], not ['Fix 2'] (verdict diagnosed ['Fix 1'])",
    ]
