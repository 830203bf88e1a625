"""The registry of failure modes (gameday.modes): read from the experiment files, in the game day's
order, and the one list of modes: no test or module writes the list out by hand."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from offgridflow_runbook.gameday.modes import experiments_dir, load_modes, mode_from_experiment

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
