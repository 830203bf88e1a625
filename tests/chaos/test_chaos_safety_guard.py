"""The safety guard, by construction: every activity that changes or loads a target is registered where
it is defined (``chaos.registry``), and on a refused target (no ``allow_chaos``, no declared identity,
or an identity that is not what answers) every one of them refuses before anything is touched."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import textwrap
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from chaoslib.exceptions import ActivityFailed

from helpers.chaos_fakes import LOCAL_IDENTITY, RecordingPlatform
from helpers.local_http import serving
from offgridflow_runbook.chaos import ACTIONS, GUARDED, PHASES, faults, registry, steady_state
from offgridflow_runbook.gameday.events import EventKind, EventLog
from offgridflow_runbook.ledger import Ledger
from offgridflow_runbook.platforms.base import CHANGE_METHODS

EXPERIMENTS = Path(__file__).parents[2] / "chaos" / "experiments"
# Beside the Platform's change methods, what changes or loads a target through its API: the memory
# assault (ApiProbe.memory_assault) and the background writer's POSTs.
API_CHANGES = frozenset({"memory_assault", "BackgroundWriter"})


def phase_modules() -> list[ModuleType]:
    return [importlib.import_module(f"offgridflow_runbook.chaos.{phase}") for phase in PHASES]


# -- a fake API that records every request ---------------------------------------------------------
class _RecordingApi(BaseHTTPRequestHandler):
    requests: list[str]

    def _answer(self) -> None:
        self.requests.append(f"{self.command} {self.path}")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def _api_server() -> Iterator[tuple[str, list[str]]]:
    requests: list[str] = []
    handler = type("RecordingApi", (_RecordingApi,), {"requests": requests})
    with serving(handler) as url:
        yield url, requests


@pytest.fixture
def fake_api(_api_server: tuple[str, list[str]]) -> tuple[str, list[str]]:
    """The API's URL and the requests it received during this test."""
    _api_server[1].clear()
    return _api_server


IDENTITY = {"docker_host": "unix:///var/run/docker.sock", "stack_label": "local"}
# name -> (profile keys over a chaos-allowed Docker profile, what the fake platform answers, refusal)
REFUSED: dict[str, tuple[dict[str, Any], Any, str]] = {
    "no-chaos": ({"allow_chaos": False}, LOCAL_IDENTITY, "does not allow chaos"),
    "no-identity": ({"identity": None}, LOCAL_IDENTITY, "declares no identity"),
    "other-engine": (
        {},
        LOCAL_IDENTITY.__class__("docker", docker_host="tcp://10.0.0.7:2375", stack_labels=("local",)),
        "expected Docker engine unix:///var/run/docker.sock, found tcp://10.0.0.7:2375",
    ),
    "other-stack": (
        {},
        LOCAL_IDENTITY.__class__("docker", docker_host="unix:///var/run/docker.sock", stack_labels=()),
        "expected containers of stack 'local', found no stack container",
    ),
    "wrong-platform": (
        {},
        LOCAL_IDENTITY.__class__("kubernetes", api_server="https://127.0.0.1:6443"),
        "expected a docker platform, found kubernetes",
    ),
}


def _targets_file(folder: Path, base_url: str) -> Path:
    profiles = {}
    for name, (keys, _, _) in REFUSED.items():
        profile = {
            "platform": "docker",
            "base_url": base_url,
            "allow_chaos": True,
            "allow_writes": True,
            "identity": IDENTITY,
        } | keys
        profiles[name] = {key: value for key, value in profile.items() if value is not None}
    path = folder / "targets.yaml"
    path.write_text(json.dumps({"targets": profiles}))
    return path


@pytest.mark.parametrize("name", sorted(GUARDED))
@pytest.mark.parametrize("refused", sorted(REFUSED))
def test_every_registered_activity_refuses_a_refused_target_before_touching_anything(
    name: str,
    refused: str,
    fake_platform: RecordingPlatform,
    fake_api: tuple[str, list[str]],
    configuration: dict[str, str],
    tmp_path: Path,
) -> None:
    url, requests = fake_api
    _, seen, reason = REFUSED[refused]
    fake_platform.seen = seen
    configuration["targets_file"] = str(_targets_file(tmp_path, url))
    # a fault of this run on record, so that a rollback would act if it got past the guard
    EventLog.for_configuration(configuration).record("fault_at", fault="config OFFGRIDFLOW_DB_POOL_MAX=lots")
    before = EventLog.for_configuration(configuration).read()
    activity = registry.registered()[name].function
    with pytest.raises(ActivityFailed, match=f"target '{refused}'.*{reason}"):
        activity(target=refused, configuration=configuration)
    assert fake_platform.calls == [], "a change reached the platform"
    assert requests == [], "a request reached the API"
    assert EventLog.for_configuration(configuration).read() == before
    assert Ledger().read() == ([], []), "a fault ledger entry was written for a refused change"


@pytest.mark.parametrize("name", sorted(GUARDED))
@pytest.mark.parametrize("target", ["production", "staging"])
def test_every_registered_activity_refuses_the_real_profiles_that_forbid_chaos(
    name: str, target: str, fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    with pytest.raises(ActivityFailed, match=rf"target '{target}' does not allow chaos"):
        registry.registered()[name].function(target=target, configuration=configuration)
    assert fake_platform.calls == []
    assert fake_platform.opened_for == []  # type: ignore[attr-defined]
    assert EventLog.for_configuration(configuration).read() == []
    assert Ledger().read() == ([], [])


def test_a_guarded_change_records_the_identity_it_saw_once(
    fake_platform: RecordingPlatform, configuration: dict[str, str]
) -> None:
    faults.kill_database(target="local", configuration=configuration)
    assert fake_platform.calls == ["kill_database"]
    seen = [
        e.detail for e in EventLog.for_configuration(configuration).read() if e.kind == EventKind.IDENTITY
    ]
    assert [(d["activity"], d["target"], d["seen"]["docker_host"]) for d in seen] == [
        ("kill_database", "local", "unix:///var/run/docker.sock")
    ]
    # the configuration first (no request), then the system: and only once, though the body guards too
    assert fake_platform.identity_reads == [False, True]


def test_chaos_allowed_checks_the_identity_too(
    fake_platform: RecordingPlatform, configuration: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    assert steady_state.chaos_allowed("local", configuration=configuration) is True
    assert steady_state.chaos_allowed("production", configuration=configuration) is False
    fake_platform.seen = REFUSED["other-engine"][1]
    assert steady_state.chaos_allowed("local", configuration=configuration) is False
    assert "target 'local': refusing: expected Docker engine" in caplog.text


def test_unknown_target_is_a_one_line_activity_failure(configuration: dict[str, str]) -> None:
    with pytest.raises(ActivityFailed, match="unknown target 'nowhere'"):
        faults.kill_database(target="nowhere", configuration=configuration)


# -- by construction: nothing that changes or loads a target is left out -------------------------------
def _called_names(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            if isinstance(call.func, ast.Attribute):
                names.add(call.func.attr)
            elif isinstance(call.func, ast.Name):
                names.add(call.func.id)
    return names


def changing_functions(source: str, exported: list[str]) -> set[str]:
    """The ``exported`` functions of a module's ``source`` whose body (or a module function it calls,
    transitively) calls a Platform change method or changes/loads the target through its API."""
    tree = ast.parse(source)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    changing = CHANGE_METHODS | API_CHANGES

    def reaches(name: str, seen: frozenset[str]) -> bool:
        called = _called_names(functions[name])
        if called & changing:
            return True
        return any(reaches(callee, seen | {callee}) for callee in (called & functions.keys()) - seen)

    return {name for name in exported if name in functions and reaches(name, frozenset({name}))}


@pytest.mark.parametrize("module", phase_modules(), ids=PHASES)
def test_every_exported_function_that_changes_the_target_is_registered(module: ModuleType) -> None:
    changing = changing_functions(inspect.getsource(module), list(module.__all__))
    assert changing - GUARDED == set(), "not registered with @changes_target / @loads_target"


def test_the_registration_check_finds_an_unregistered_change() -> None:
    source = textwrap.dedent(
        """
        def _helper(platform):
            platform.rollout_undo()

        def sneaky(target=None, configuration=None, secrets=None):
            with opened(chosen) as platform:
                _helper(platform)

        def loads(target=None, configuration=None, secrets=None):
            api.memory_assault(700, 1)

        def reads(target=None, configuration=None, secrets=None):
            return platform.api_workloads()
        """
    )
    assert changing_functions(source, ["sneaky", "loads", "reads"]) == {"sneaky", "loads"}


def test_the_known_changers_are_found_by_the_check() -> None:
    found = set().union(*(changing_functions(inspect.getsource(m), list(m.__all__)) for m in phase_modules()))
    assert {"memory_load_survives", "memory_assault", "fix_3_rollout_undo", "use_in_place_config"} <= found


def test_every_experiment_action_and_load_is_registered() -> None:
    for path in sorted(EXPERIMENTS.glob("*.json")):
        document = json.loads(path.read_text())
        for activity in [
            *document["steady-state-hypothesis"]["probes"],
            *document["method"],
            *document["rollbacks"],
        ]:
            func = activity["provider"]["func"]
            if activity["type"] == "action":
                assert func in ACTIONS, f"{path.name}: action {func} is not registered"
            module = importlib.import_module(activity["provider"]["module"])
            if func in changing_functions(inspect.getsource(module), [func]):
                assert func in GUARDED, f"{path.name}: {func} changes or loads the target, unregistered"


def test_actions_are_derived_from_the_registry() -> None:
    entries = registry.registered()
    assert {name for name, entry in entries.items() if entry.effect == "changes"} == ACTIONS
    assert entries["memory_load_survives"].effect == "loads"
    assert entries["memory_load_survives"].module == "offgridflow_runbook.chaos.proof"


def test_an_activity_without_the_target_parameters_cannot_be_registered() -> None:
    def no_target(configuration: object = None, secrets: object = None) -> None:
        return None

    with pytest.raises(TypeError, match=r"needs parameters \['target'\]"):
        registry.changes_target(no_target)
