"""The experiments: valid for Chaos Toolkit, platform neutral, and shaped as the game day needs."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from chaoslib.experiment import ensure_experiment_is_valid

from offgridflow_runbook.chaos import ACTIONS, PHASES
from offgridflow_runbook.gameday.modes import expectation_from_experiment, load_modes
from offgridflow_runbook.probes.prometheus import RUNBOOK_ALERTS
from offgridflow_runbook.runbook import load_runbook

EXPERIMENTS = Path(__file__).parents[2] / "chaos" / "experiments"
# the modes, read from the experiments (gameday.modes): the one list, never written out here
REGISTRY = {mode.name: mode for mode in load_modes(EXPERIMENTS)}
MODES = sorted(REGISTRY)
FAULTS_MODULE = "offgridflow_runbook.chaos.faults"


def load(mode: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXPERIMENTS / f"{mode}.json").read_text())
    return document


def activities(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *document["steady-state-hypothesis"]["probes"],
        *document["method"],
        *document["rollbacks"],
    ]


def test_every_experiment_file_is_one_mode_named_as_its_file() -> None:
    assert len(REGISTRY) >= 4, "the runbook's four failure modes at least"
    for mode in REGISTRY.values():
        assert mode.path is not None
        assert mode.path.stem == mode.name
        assert load(mode.name)["configuration"]["mode"] == mode.name
        assert set(mode.platforms) <= {"docker", "kubernetes"}, mode.name


def test_every_mode_proves_a_fix_section_of_the_runbook_or_a_triage_branch_without_one() -> None:
    # a branch the runbook names without a Fix (Triage 2D): the game day proposes the fix as a finding
    steps = {step.id for step in load_runbook().steps}
    for mode in REGISTRY.values():
        assert mode.fix.startswith(("Fix ", "Triage 2")), (mode.name, mode.fix)
        assert mode.fix in steps, (mode.name, mode.fix)


@pytest.mark.parametrize("mode", MODES)
def test_chaos_toolkit_accepts_the_experiment(mode: str) -> None:
    ensure_experiment_is_valid(load(mode))  # what `chaos validate` runs, argument names included


@pytest.mark.parametrize("mode", MODES)
def test_every_activity_is_ours_and_takes_the_target_variable(mode: str) -> None:
    for activity in activities(load(mode)):
        provider = activity["provider"]
        package, _, phase = provider["module"].rpartition(".")
        assert (package, phase in PHASES) == ("offgridflow_runbook.chaos", True), provider["module"]
        assert provider["func"] in importlib.import_module(provider["module"]).__all__
        assert provider["arguments"]["target"] == "${target}"
        # an action changes the target (and is guarded); a probe only reads
        assert (activity["type"] == "action") == (provider["func"] in ACTIONS), provider["func"]


@pytest.mark.parametrize("mode", MODES)
def test_shape_fault_detection_fix_verification(mode: str) -> None:
    document = load(mode)
    functions = [a["provider"]["func"] for a in document["method"]]
    modules = [a["provider"]["module"] for a in document["method"]]
    fault = modules.index(FAULTS_MODULE)  # the fault, or the set-up right before it
    detection = next(i for i, f in enumerate(functions) if f.startswith("wait_for_"))
    diagnosis = functions.index("diagnosis_names")
    fix = next(i for i, f in enumerate(functions) if f.startswith("fix_"))
    assert fault < detection < diagnosis < fix
    assert "verification_passes" in functions[fix:]
    assert document["method"][diagnosis]["provider"]["arguments"]["section"] == REGISTRY[mode].fix
    rollbacks = [a["provider"] for a in document["rollbacks"]]
    assert rollbacks[-1]["func"] == "verification_passes"
    # the rollback repairs only what is still broken (a fix, or restoring the bad value)
    repairs = [p for p in rollbacks if p["func"].startswith("fix_") or p["func"] == "restore_config"]
    assert [p["arguments"]["only_if_broken"] for p in repairs] == [True]
    assert document["configuration"]["mode"] == mode
    assert [p["provider"]["func"] for p in document["steady-state-hypothesis"]["probes"]] == [
        "chaos_allowed",
        "verification_passes",
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", ["docker", "kubernetes"])
def test_expectation_names_the_runbook_fix(mode: str, platform: str) -> None:
    expectation = expectation_from_experiment(load(mode), platform)
    assert expectation.mode == mode
    assert expectation.fix == REGISTRY[mode].fix
    assert not set(expectation.must_fire) & set(expectation.must_not_fire)


def test_db_kill_requires_postgresql_down_and_bad_config_api_down_on_docker() -> None:
    assert "PostgreSQLDown" in expectation_from_experiment(load("db-kill"), "docker").must_fire
    assert "PostgreSQLDown" in expectation_from_experiment(load("db-crash-loop"), "kubernetes").must_fire
    assert "OffGridFlowAPIDown" in expectation_from_experiment(load("bad-config"), "docker").must_fire
    # a RollingUpdate keeps the old pod serving on Kubernetes: the API-down alert may stay silent there
    assert "OffGridFlowAPIDown" not in expectation_from_experiment(load("bad-config"), "kubernetes").must_fire


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("platform", ["docker", "kubernetes"])
def test_every_mode_names_the_alert_that_pages_on_every_platform(mode: str, platform: str) -> None:
    expectation = expectation_from_experiment(load(mode), platform)
    if platform not in expectation.platforms:
        pytest.skip(f"{mode} does not run on {platform}")
    if expectation.may_heal_by_itself:
        # a StatefulSet replaces a killed database pod before anything can page: nothing must fire,
        # and the experiment says so as a finding (db-crash-loop is the outage that pages there)
        assert expectation.must_fire == (), f"{mode} on {platform} may heal by itself yet must page"
        return
    assert expectation.must_fire, f"{mode} on {platform} names no page"
    assert set(expectation.must_fire) <= set(RUNBOOK_ALERTS)


@pytest.mark.parametrize("mode", MODES)
def test_the_fix_waits_for_the_page_of_one_of_the_must_fire_alerts(mode: str) -> None:
    """On-call acts on the page: the fix comes after a page of the mode's alert reached the receiver."""
    document = load(mode)
    functions = [activity["provider"]["func"] for activity in document["method"]]
    page_step = functions.index("wait_for_page")
    fix_step = next(i for i, f in enumerate(functions) if f.startswith("fix_"))
    assert page_step < fix_step
    waited = set(document["method"][page_step]["provider"]["arguments"]["names"].split(","))
    for platform in ("docker", "kubernetes"):
        expectation = expectation_from_experiment(document, platform)
        if platform in expectation.platforms and not expectation.may_heal_by_itself:
            assert waited & set(expectation.must_fire), platform


def test_only_db_kill_may_heal_by_itself_and_only_on_kubernetes() -> None:
    healing = {
        (mode, platform)
        for mode in MODES
        for platform in ("docker", "kubernetes")
        if expectation_from_experiment(load(mode), platform).may_heal_by_itself
    }
    assert healing == {("db-kill", "kubernetes")}
    functions = [a["provider"]["func"] for a in load("db-kill")["method"]]
    assert functions.index("database_heals_by_itself") < functions.index("diagnosis_names")


@pytest.mark.parametrize("mode", MODES)
def test_no_experiment_tolerates_a_firing_alert_in_verification(mode: str) -> None:
    assert "tolerate_alerts" not in load(mode)["configuration"]
