"""benchmarks/bench_test_tiers.py reads a finished run's tier reports: pytest's wall time from each
tier's log, the tests' times from its JUnit report and the quiet waits the e2e fixture noted beside it."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from helpers.benchmarks import load_benchmark

DOCKER_XML = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3" failures="0" errors="0" skipped="0">
<testcase classname="tests.e2e.test_gate_e2e" name="test_slow" time="40.0"/>
<testcase classname="tests.e2e.test_gate_e2e" name="test_quick" time="2.0"/>
<testcase classname="tests.e2e.test_paging" name="test_no_fixture" time="8.0"/>
</testsuite></testsuites>
"""
QUIET_WAITS = [
    {
        "test": "tests/e2e/test_gate_e2e.py::test_slow",
        "quiet_wait_s": 12.5,
        "waited_for": ["OffGridFlowAPIHighErrorRate (firing)", "PodCrashLooping (pending)"],
    },
    {"test": "tests/e2e/test_gate_e2e.py::test_quick", "quiet_wait_s": 0.0, "waited_for": []},
]
DOCKER_LOG = "[docker] ...\n== 3 passed, 1992 deselected in 50.25s (0:00:50) ==\n"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_test_tiers")


def test_a_tiers_wall_tests_and_quiet_waits_are_read_from_its_reports(
    bench: ModuleType, tmp_path: Path
) -> None:
    (tmp_path / "docker.xml").write_text(DOCKER_XML, encoding="utf-8")
    (tmp_path / "docker.log").write_text(DOCKER_LOG, encoding="utf-8")
    lines = "".join(json.dumps(note) + "\n" for note in QUIET_WAITS)
    (tmp_path / "docker.quiet-waits.jsonl").write_text(lines, encoding="utf-8")
    (tier,) = bench.read_tiers(tmp_path)
    assert tier.name == "docker"
    assert tier.wall_s == 50.25
    assert tier.tests_s == 50.0
    assert tier.quiet_s == 12.5
    assert tier.waited_for() == {
        "OffGridFlowAPIHighErrorRate (firing)": 12.5,
        "PodCrashLooping (pending)": 12.5,
    }
    assert tier.by_file().most_common(1) == [("tests/e2e/test_gate_e2e.py", 42.0)]


def test_the_figures_are_printed_and_written(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "docker.xml").write_text(DOCKER_XML, encoding="utf-8")
    (tmp_path / "docker.log").write_text(DOCKER_LOG, encoding="utf-8")
    lines = "".join(json.dumps(note) + "\n" for note in QUIET_WAITS)
    (tmp_path / "docker.quiet-waits.jsonl").write_text(lines, encoding="utf-8")
    out = tmp_path / "bench.json"
    assert bench.main([str(tmp_path), "--top", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "docker: wall 0:50.2, 3 tests, 0:50.0 in tests, quiet waits 0:12.5 (25%)" in printed
    assert "waited out OffGridFlowAPIHighErrorRate (firing)" in printed
    figures = json.loads(out.read_text())
    assert [t["test"] for t in figures["docker"]["slowest_tests"]] == [
        "tests.e2e.test_gate_e2e::test_slow",
        "tests.e2e.test_paging::test_no_fixture",
    ]
    assert figures["docker"]["quiet_waits"] == 2


def test_a_folder_without_reports_is_one_line_and_exit_2(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main([str(tmp_path), "--out", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no tier report")
    assert err.strip().count("\n") == 0


def test_a_broken_report_is_one_line_and_exit_2(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "kind.xml").write_text("<testsuites><testsuite>", encoding="utf-8")
    assert bench.main([str(tmp_path), "--out", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read the tier reports")
    assert err.strip().count("\n") == 0
