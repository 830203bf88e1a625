"""The skip policy (tests/helpers/skip_policy.py) seen from a pytest run (pytester): with CI=true or
--fail-on-unexpected-skip, a skip that tests/expected-skips.txt does not allow fails the run."""

from __future__ import annotations

import pytest

from helpers.skip_policy import ALLOWLIST, read_allowlist

pytest_plugins = ["pytester"]

PLUGINS = ("-p", "helpers.skip_policy", "-p", "no:asyncio", "-p", "no:pytest-kind", "-p", "no:cacheprovider")
TESTS = """
import pytest

def test_runs():
    pass

def test_without_its_tool():
    pytest.skip("frobnicator is not on PATH")

@pytest.mark.skipif(True, reason="mode x does not run on docker")
def test_a_mode():
    pass

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_known_bug():
    assert False
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(test_things=TESTS)
    return pytester


def allow(pytester: pytest.Pytester, *lines: str) -> str:
    path = pytester.path / "expected-skips.txt"
    path.write_text("# the skips this project expects\n\n" + "\n".join(lines) + "\n")
    return f"--expected-skips={path}"


def test_an_unexpected_skip_fails_the_run_and_is_listed_with_its_reason(project: pytest.Pytester) -> None:
    allowlist = allow(project, "* does not run on docker # Kubernetes-only")
    result = project.runpytest(*PLUGINS, allowlist, "--fail-on-unexpected-skip")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*= unexpected skips: 1 =*",
            "UNEXPECTED SKIP test_things.py::test_without_its_tool - frobnicator is not on PATH",
        ]
    )
    assert "UNEXPECTED SKIP test_things.py::test_a_mode" not in result.stdout.str()


def test_allowed_skips_and_an_xfail_leave_the_run_green(project: pytest.Pytester) -> None:
    allowlist = allow(project, "* does not run on docker # Kubernetes-only", "frobnicator is * # optional")
    result = project.runpytest(*PLUGINS, allowlist, "--fail-on-unexpected-skip")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    assert "unexpected skips" not in result.stdout.str()


def test_ci_true_turns_the_policy_on(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    result = project.runpytest(*PLUGINS, allow(project))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*= unexpected skips: 2 =*"])


def test_outside_ci_and_without_the_option_a_skip_is_only_a_skip(project: pytest.Pytester) -> None:
    result = project.runpytest(*PLUGINS, allow(project))
    assert result.ret == pytest.ExitCode.OK
    assert "unexpected skips" not in result.stdout.str()


def test_a_run_where_everything_skipped_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_module_skip="""
import pytest
pytest.skip("the whole module needs a cluster", allow_module_level=True)

def test_never_runs():
    pass
"""
    )
    result = pytester.runpytest(*PLUGINS, allow(pytester), "--fail-on-unexpected-skip")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["UNEXPECTED SKIP test_module_skip.py - the whole module needs a cluster"])


def test_an_allowlist_line_without_its_why_is_a_usage_error(project: pytest.Pytester) -> None:
    result = project.runpytest(*PLUGINS, allow(project, "frobnicator is *"), "--fail-on-unexpected-skip")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*expected-skips.txt:3: an expected skip is a reason glob, then '#' and why"]
    )


def test_the_suites_allowlist_gives_every_entry_its_why() -> None:
    entries = read_allowlist(ALLOWLIST)
    assert entries, f"{ALLOWLIST} lists no expected skip"
    assert all(entry.why for entry in entries)
    # the tiers that make test turns on must never be an expected skip
    assert not [entry for entry in entries if entry.allows("the kind tier is off: make test turns it on")]


def test_the_option_is_in_the_offgridflow_group(pytester: pytest.Pytester) -> None:
    text = pytester.runpytest(*PLUGINS, "--help").stdout.str()
    (section,) = [chunk for chunk in text.split("\n\n") if "--target=" in chunk or "--target " in chunk]
    assert "--fail-on-unexpected-skip" in section
    assert "--expected-skips" in section


def test_the_suites_own_run_has_the_policy_loaded(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("helpers.skip_policy")
