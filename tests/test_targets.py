from pathlib import Path

import pytest

from offgridflow_runbook.targets import TargetError, load_target, load_targets

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_targets_file_never_allows_chaos_in_production() -> None:
    targets = load_targets(ROOT / "targets.yaml")
    assert {"local", "kind", "staging", "production"} <= set(targets)
    assert targets["production"].allow_chaos is False
    assert targets["production"].allow_writes is False


def test_an_unknown_target_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"known targets .*local"):
        load_target("prod", ROOT / "targets.yaml")


def test_an_unknown_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "targets:\n  x:\n    platform: docker\n    base_url: http://127.0.0.1:1\n    colour: red\n"
    )
    with pytest.raises(TargetError, match="unknown keys \\['colour'\\]"):
        load_targets(path)
