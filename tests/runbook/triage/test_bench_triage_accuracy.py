"""benchmarks/bench_triage_accuracy.py on a corpus with a miss in it: the miss is listed and the
confusion table shows it; the benchmark exits 0 (it prints figures, it judges nothing)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers.benchmarks import load_benchmark
from helpers.triage_corpus import SCENARIOS_DIR, label


def test_the_benchmark_lists_every_miss_and_the_confusion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("healthy", "oom"):
        (tmp_path / "kind").mkdir(exist_ok=True)
        shutil.copy(SCENARIOS_DIR / "kind" / f"{name}.json", tmp_path / "kind" / f"{name}.json")
    wrong = tmp_path / "kind" / "healthy.json"
    raw = json.loads(wrong.read_text())
    raw["scenario"]["label"] = label("pretend the database was killed", "database", "diagnosed", ("Fix 1",))
    wrong.write_text(json.dumps(raw))
    bench = load_benchmark("bench_triage_accuracy")
    assert bench.main(["--corpus", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "triage accuracy against the fault labels, the real recordings: 1/2 (50%)" in out
    assert "kind/healthy: label diagnosed ['Fix 1'], verdict healthy []" in out
    assert "  database  0/1 (0%)" in out
    lines = out.splitlines()
    header = next(line for line in lines if "label \\ verdict" in line)
    row = next(line for line in lines if line.strip().startswith("Fix 1 "))
    assert [cell.strip() for cell in header.split("|")[1:]] == ["Fix 2", "healthy"]
    assert [cell.strip() for cell in row.split("|")[1:]] == [".", "1"]
