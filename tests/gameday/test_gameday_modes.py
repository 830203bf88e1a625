"""The registry of failure modes (gameday.modes): read from the experiment files, in the game day's
order, and the one list of modes: no test or module writes the list out by hand."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from offgridflow_runbook.chaos.registry import registered
from offgridflow_runbook.gameday.modes import (
    EXTENSION,
    FAULTS_MODULE,
    FIXES_MODULE,
    ModeError,
    experiments_dir,
    load_modes,
    mode_from_experiment,
    modes_by_name,
)

ROOT = Path(__file__).parents[2]
SCANNED = ("src", "tests", "chaos", "benchmarks")


def experiment(mode: str, **extension: object) -> dict[str, object]:
    return {
        "title": mode,
        "extensions": [
            {"name": "other", "mode": "not this one"},
            {"name": "offgridflow-gameday", "mode": mode, "fix": "Fix 1", **extension},
        ],
    }


def test_every_experiment_file_is_a_mode_in_the_game_days_order() -> None:
    modes = load_modes()
    assert {m.path for m in modes} == set(experiments_dir().glob("*.json"))
    assert [m.order for m in modes] == sorted(m.order for m in modes)
    assert len({m.name for m in modes}) == len(modes)


def test_a_new_experiment_file_is_a_new_mode_without_a_list_to_edit(tmp_path: Path) -> None:
    for name, extension in {
        "late": {},
        "first": {"order": 1, "platforms": ["kubernetes"], "self_heals_on": ["kubernetes"]},
        "second": {"order": 2, "alerts": {"must_fire": {"docker": ["A"]}, "silent_is_finding": ["B"]}},
    }.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(experiment(name, **extension)))
    modes = load_modes(tmp_path)
    assert [m.name for m in modes] == ["first", "second", "late"]
    first, second, late = modes
    assert (first.runs_on("docker"), first.runs_on("kubernetes")) == (False, True)
    assert first.expectation("kubernetes").may_heal_by_itself
    assert late.platforms == ("docker", "kubernetes")
    assert second.expectation("docker").must_fire == ("A",)
    assert second.expectation("kubernetes").must_fire == ()
    assert second.expectation("kubernetes").silent_is_finding == ("B",)


def test_an_experiment_without_the_extension_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'lonely' has no 'offgridflow-gameday' extension"):
        mode_from_experiment({"title": "lonely", "extensions": []})


def test_every_experiment_file_is_a_mode_with_its_section_fault_and_fix() -> None:
    modes = modes_by_name()
    for path in sorted(experiments_dir().glob("*.json")):
        document = json.loads(path.read_text())
        [extension] = [e for e in document["extensions"] if e["name"] == EXTENSION]
        mode = modes[extension["mode"]]
        assert mode.fix == extension["fix"]
        actions = [s["provider"] for s in document["method"] if s["type"] == "action"]
        assert [(a.module, a.func, dict(a.arguments)) for a in mode.faults + mode.fixes] == [
            (a["module"], a["func"], a.get("arguments", {}))
            for a in actions
            if a["module"] in {FAULTS_MODULE, FIXES_MODULE}
        ]
        assert mode.faults, path
        assert mode.fixes, path
    assert list(modes) == sorted(modes)
    assert len(modes) == len(list(experiments_dir().glob("*.json")))


def test_every_fault_and_fix_of_the_experiments_is_a_registered_change_of_its_module() -> None:
    activities = registered()
    faults = {(mode.name, a.func) for mode in load_modes() for a in mode.faults}
    fixes = {(mode.name, a.func) for mode in load_modes() for a in mode.fixes}
    assert {mode for mode, _ in faults} == {mode for mode, _ in fixes} == {m.name for m in load_modes()}
    unregistered = sorted(f"{mode}: {func}" for mode, func in faults | fixes if func not in activities)
    assert unregistered == []
    for module, found in ((FAULTS_MODULE, faults), (FIXES_MODULE, fixes)):
        for mode, func in sorted(found):
            activity = activities[func]
            assert (activity.module, activity.effect) == (module, "changes"), f"{mode}: {func}"


def test_an_activity_gets_the_target_for_its_variable() -> None:
    for mode in load_modes():
        for activity in mode.faults + mode.fixes:
            assert activity.arguments["target"] == "${target}", (mode.name, activity.func)
            called = activity.for_target("local")
            assert called == {**activity.arguments, "target": "local"}


def test_the_method_s_fault_and_fix_actions_are_read_in_order(tmp_path: Path) -> None:
    def action(module: str, func: str, **arguments: object) -> dict[str, object]:
        return {
            "type": "action",
            "provider": {"type": "python", "module": module, "func": func, "arguments": arguments},
        }

    document = experiment("x") | {
        "method": [
            action(FAULTS_MODULE, "first", target="${target}", n=1),
            {"type": "probe", "provider": {"module": FAULTS_MODULE, "func": "a-probe-is-no-fault"}},
            action("somewhere.else", "not_a_fault"),
            action(FIXES_MODULE, "the_fix", target="${target}"),
            action(FAULTS_MODULE, "second"),
        ]
    }
    mode = mode_from_experiment(document)
    assert [(a.func, dict(a.arguments)) for a in mode.faults] == [
        ("first", {"target": "${target}", "n": 1}),
        ("second", {}),
    ]
    assert [a.func for a in mode.fixes] == ["the_fix"]
    assert mode.faults[0].for_target("t") == {"target": "t", "n": 1}
    assert mode_from_experiment(experiment("y")).faults == ()  # no method: no activities


def test_no_experiments_or_a_foreign_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModeError, match="no experiments"):
        modes_by_name(tmp_path)
    (tmp_path / "x.json").write_text("{}")
    for read in (load_modes, modes_by_name):
        with pytest.raises(ModeError, match=r"x\.json: not an offgridflow game-day experiment") as error:
            read(tmp_path)
        assert "\n" not in str(error.value)


def _hand_written_lists(path: Path, names: set[str]) -> list[int]:
    """Lines of ``path`` holding a literal tuple, list, set or dict (its keys) of two mode names or more."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            items = node.elts
        elif isinstance(node, ast.Dict):
            items = [key for key in node.keys if key is not None]
        else:
            continue
        named = {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)} & names
        if len(named) >= 2:
            found.append(node.lineno)
    return found


def test_the_scan_finds_a_hand_written_list_of_modes(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text('MODES = ("a", "b")\nONE = ["a", "other"]\nBY = {"a": 1, "b": 2}\n')
    assert _hand_written_lists(source, {"a", "b"}) == [1, 3]


def test_no_module_or_test_writes_the_list_of_modes_by_hand() -> None:
    names = {m.name for m in load_modes()}
    files = [path for folder in SCANNED for path in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) > 100  # the scan looked at the project's sources
    written = [f"{p.relative_to(ROOT)}:{line}" for p in files for line in _hand_written_lists(p, names)]
    assert written == [], "read the modes from offgridflow_runbook.gameday.modes instead"
