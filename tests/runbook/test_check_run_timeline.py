"""benchmarks/timeline_plugin.py: a check run's phases are marked in the order they are reached."""

from __future__ import annotations

import json

import pytest

from helpers.benchmarks import BENCHMARKS, load_benchmark

pytest_plugins = ["pytester"]


def test_the_timeline_marks_every_phase_of_a_run_in_order(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = load_benchmark("timeline_plugin")
    timeline = pytester.path / "timeline.jsonl"
    monkeypatch.setenv(plugin.TIMELINE_ENV, str(timeline))
    monkeypatch.setenv("PYTHONPATH", str(BENCHMARKS))
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="session")
        def look():
            return 1

        def test_first(look):
            assert look == 1

        def test_second():
            pass
        """
    )
    # only this plugin: another would add fixtures of its own (an event loop policy)
    run = pytester.runpytest_subprocess("--disable-plugin-autoload", "-p", "timeline_plugin")
    run.assert_outcomes(passed=2)
    marks = [json.loads(line) for line in timeline.read_text(encoding="utf-8").splitlines()]
    phases = [mark["what"] for mark in marks]
    assert phases == [
        "plugins loaded",
        "collection finished",
        "fixture look",
        "check test_first",
        "check test_second",
        "checks done",
        "reports written",
        "exit",
    ]
    moments = [mark["at"] for mark in marks]
    assert moments == sorted(moments)
