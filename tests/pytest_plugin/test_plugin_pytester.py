"""The pytest plugin seen from a user's pytest run (pytester): options, markers, report column,
JSON lines, one-line connection failures, and a token that never reaches an artifact."""

from __future__ import annotations

import base64
import html
import json
import re
import socket
from pathlib import Path

import pytest

from offgridflow_runbook.reporting import EXIT_USAGE

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = (
    "--target",
    "--targets-file",
    "--base-url",
    "--token-env",
    "--kube-context",
    "--kubeconfig",
    "--namespace",
    "--prometheus-url",
    "--results-jsonl",
)
SECRET = "plugin-secret-token-7d1e2f9a"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with the checks' own pytest.ini and a target whose API does not answer."""
    pytester.makeini((ROOT / "checks/pytest.ini").read_text().replace("reports/checks", "out"))
    pytester.makefile(
        ".yaml",
        targets=f"""
targets:
  dead:
    platform: none
    base_url: http://127.0.0.1:{closed_port()}
    metrics_url: http://127.0.0.1:{closed_port()}/metrics
    token_env: PLUGIN_TEST_TOKEN
""",
    )
    monkeypatch.setenv("PLUGIN_TEST_TOKEN", SECRET)
    return pytester


def test_all_options_are_in_one_group_with_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "no:asyncio", "-p", "no:pytest-kind", "--help")
    text = result.stdout.str()
    section = text.split("OffGridFlow runbook suite:", 1)[1].split("\n\n", 1)[0]
    for option in OPTIONS:
        line = next((line for line in section.splitlines() if line.strip().startswith(option)), None)
        assert line is not None, f"{option} not in the offgridflow group"
        description = section.split(option, 1)[1].split("\n  --", 1)[0]
        assert len(description.split()) >= 3, f"{option} has no help text"


def test_the_shipped_plugin_leaves_out_the_options_only_the_suites_tests_use(
    pytester: pytest.Pytester,
) -> None:
    text = pytester.runpytest("-p", "no:asyncio", "-p", "no:pytest-kind", "--help").stdout.str()
    assert "--kind-bin" not in text
    assert "--keep-cluster" not in text


def test_runbook_step_marker_is_registered_in_the_project_config(pytester: pytest.Pytester) -> None:
    pytester.chdir()
    result = pytester.runpytest_subprocess("--markers", "-c", str(ROOT / "pyproject.toml"))
    assert "@pytest.mark.runbook_step(step)" in result.stdout.str()


def test_the_check_run_loads_only_the_plugins_it_names(project: pytest.Pytester) -> None:
    # checks/pytest.ini: no search of the installed packages for plugins (start-up of every
    # scheduled run), so none of the test-only ones comes in with it
    project.makepyfile(
        test_plugins="""
        def test_plugins(pytestconfig):
            loaded = pytestconfig.pluginmanager.list_name_plugin()
            names = {name for name, plugin in loaded if plugin is not None}  # not the blocked
            assert {"offgridflow_runbook.pytest_plugin", "pytest_html.plugin"} <= names
            test_only = {"hypothesispytest", "schemathesis", "asyncio", "anyio", "kmock", "pytest-kind"}
            assert not names & test_only
        """
    )
    project.runpytest("--targets-file", "targets.yaml", "--target", "dead").assert_outcomes(passed=1)


def test_step_column_json_lines_and_junit_property(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_steps="""
        import pytest

        @pytest.mark.runbook_step("Verification 2")
        def test_ready():
            pass

        @pytest.mark.runbook_step("Triage 2B")
        def test_database():
            pytest.fail("pg_isready exited 2", pytrace=False)

        def test_without_step():
            pytest.skip("not a runbook step")
        """
    )
    result = project.runpytest("--targets-file", "targets.yaml", "--target", "dead")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    report = html.unescape((project.path / "out/report.html").read_text())
    assert "Runbook step</th>" in report
    row = (
        '<td class=\\"col-runbook-step\\">Verification 2</td>", '
        '"<td class=\\"col-testId\\">test_steps.py::test_ready'
    )
    assert row in report
    records = [json.loads(line) for line in (project.path / "out/results.jsonl").read_text().splitlines()]
    assert [(r["check"], r["step"], r["outcome"], r["message"]) for r in records] == [
        ("test_steps.py::test_ready", "Verification 2", "passed", ""),
        ("test_steps.py::test_database", "Triage 2B", "failed", "pg_isready exited 2"),
        ("test_steps.py::test_without_step", None, "skipped", "not a runbook step"),
    ]
    assert all(r["target"] == "dead" for r in records)
    junit = (project.path / "out/junit.xml").read_text()
    assert '<property name="runbook_step" value="Triage 2B"' in junit


def test_a_run_of_runbook_steps_ends_with_the_runbooks_coverage(project: pytest.Pytester) -> None:
    from offgridflow_runbook.coverage import runbook_coverage

    project.makepyfile(
        test_steps="""
        import pytest

        @pytest.mark.runbook_step("Verification 2")
        def test_ready():
            pass
        """
    )
    result = project.runpytest("--targets-file", "targets.yaml", "--target", "dead")
    summary = runbook_coverage().summary()
    result.stdout.fnmatch_lines([f"{summary} (offgridflow-runbook coverage lists each step)"])
    assert (
        f"<p>{summary} (offgridflow-runbook coverage)</p>" in (project.path / "out/report.html").read_text()
    )


def test_a_one_line_failure_keeps_the_notes_added_to_it(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_noted="""
        from offgridflow_runbook.platforms import PlatformError

        def test_noted():
            failure = PlatformError("docker: pg_isready failed: Container 1f is not running")
            failure.add_note("the case failed with a ledger entry open; restore after it exited 0")
            raise failure
        """
    )
    result = project.runpytest("--targets-file", "targets.yaml", "--target", "dead")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "docker: pg_isready failed: Container 1f is not running",
            "the case failed with a ledger entry open; restore after it exited 0",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_unreachable_target_fails_in_one_line_without_traceback(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_dead="""
        import pytest
        from offgridflow_runbook.runbook.steps import triage_1_live
        from offgridflow_runbook.pytest_plugin import judge

        @pytest.mark.runbook_step("Triage 1")
        def test_live(runbook_observations):
            judge(triage_1_live(runbook_observations))

        @pytest.mark.runbook_step("Verification 4")
        def test_metrics_raw(api_probe):
            api_probe.metrics()
        """
    )
    result = project.runpytest("--targets-file", "targets.yaml", "--target", "dead")
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert re.search(
        r"Triage 1: target 'dead': unreachable, connection refused: http://127\.0\.0\.1:\d+/health/live", text
    )
    assert re.search(r"target 'dead': unreachable, connection refused: http://127\.0\.0\.1:\d+/metrics", text)
    assert "Traceback" not in text
    assert "def test_" not in text
    assert "raise " not in text


def test_unknown_target_is_one_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_any="def test_it(target):\n    pass\n")
    result = project.runpytest("--targets-file", "targets.yaml", "--target", "nowhere")
    assert result.ret == EXIT_USAGE  # as the command line's: 1 means checks failed, 4 is pytest's own
    assert result.errlines == [
        "Exit: offgridflow: unknown target 'nowhere'; known targets in targets.yaml: dead"
    ]
    assert result.outlines == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (".", "Is a directory"),
        ("targets.yaml/results.jsonl", "targets.yaml: Not a directory"),
    ],
)
def test_a_results_file_that_cannot_be_written_is_one_usage_error_before_any_test(
    project: pytest.Pytester, where: str, expected: str
) -> None:
    project.makepyfile(test_any="def test_it():\n    pass\n")
    result = project.runpytest(
        "--targets-file", "targets.yaml", "--target", "dead", f"--results-jsonl={where}"
    )
    assert result.ret == EXIT_USAGE
    assert result.errlines == [f"Exit: offgridflow: --results-jsonl {where} cannot be written: {expected}"]
    assert result.outlines == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a device that is always full")
def test_a_results_file_that_fills_up_ends_the_run_in_one_line_with_64(project: pytest.Pytester) -> None:
    project.makepyfile(test_any="def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    result = project.runpytest(
        "--targets-file", "targets.yaml", "--target", "dead", "--results-jsonl=/dev/full"
    )
    result.assert_outcomes(passed=2)  # the checks still run, and report in the terminal, HTML and JUnit
    assert result.ret == EXIT_USAGE
    assert result.errlines == [
        "Exit: offgridflow: --results-jsonl /dev/full cannot be written: No space left on device"
    ]
    assert "INTERNALERROR" not in result.stdout.str()


def _all_artifacts(directory: Path, output: str) -> str:
    texts = [output]
    for path in directory.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            texts.append(text)
            texts += [
                base64.b64decode(b).decode(errors="replace")
                for b in re.findall(r"base64,([A-Za-z0-9+/=]+)", text)
            ]
    return "\n".join(texts)


def test_the_token_never_reaches_any_artifact(project: pytest.Pytester) -> None:
    project.makepyfile(
        test_leaky="""
        import logging, sys
        import pytest

        @pytest.mark.runbook_step("Verification 3")
        def test_leaks_everywhere(target):
            token = target.token
            print("stdout has", token)
            print("stderr has", token, file=sys.stderr)
            logging.getLogger("leak").error("log has %s", token)
            assert token == "something else"

        @pytest.mark.runbook_step("Verification 3")
        def test_leaks_in_message(target):
            pytest.fail(f"bad token {target.token}", pytrace=False)

        def test_leaks_in_skip(target):
            pytest.skip(f"skip {target.token}")
        """
    )
    result = project.runpytest("--targets-file", "targets.yaml", "--target", "dead", "-rA")
    result.assert_outcomes(failed=2, skipped=1)
    everything = _all_artifacts(project.path / "out", result.stdout.str() + result.stderr.str())
    assert "***" in everything  # the places where it would have been
    assert SECRET not in everything


def test_checks_directory_writes_its_reports_by_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = pytester.mkdir("checks")
    (checks / "pytest.ini").write_text((ROOT / "checks/pytest.ini").read_text())
    (checks / "test_one.py").write_text(
        "import pytest\n\n@pytest.mark.runbook_step('Triage 1')\ndef test_one():\n    pass\n"
    )
    monkeypatch.chdir(pytester.path)
    result = pytester.runpytest_subprocess("checks")
    result.assert_outcomes(passed=1)
    for name in ("report.html", "junit.xml", "results.jsonl"):
        assert (pytester.path / "reports/checks" / name).is_file(), name
    html = (pytester.path / "reports/checks/report.html").read_text()
    assert '<link rel="stylesheet"' not in html  # self-contained: the CSS is inline


def test_checks_reports_also_when_a_targets_file_argument_makes_pytest_use_pyproject(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `pytest checks --targets-file targets.yaml`: the common ancestor of the two paths is the
    # project root, so pytest takes pyproject.toml and never reads checks/pytest.ini
    checks = pytester.mkdir("checks")
    (checks / "pytest.ini").write_text((ROOT / "checks/pytest.ini").read_text())
    (checks / "test_one.py").write_text("def test_one():\n    pass\n")
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\naddopts = ["-p", "no:pytest-kind", "-p", "no:asyncio"]\n'
    )
    pytester.makefile(
        ".yaml", targets="targets:\n  x:\n    platform: none\n    base_url: http://127.0.0.1:9\n"
    )
    monkeypatch.chdir(pytester.path)
    result = pytester.runpytest_subprocess("checks", "--targets-file", "targets.yaml", "--target", "x")
    result.assert_outcomes(passed=1)
    assert "configfile: pyproject.toml" in result.stdout.str()
    for name in ("report.html", "junit.xml", "results.jsonl"):
        assert (pytester.path / "reports/checks" / name).is_file(), name


def fake_platform(project: pytest.Pytester, event_message: str, logs: str, previous_logs: str = "") -> None:
    """A conftest whose platform is a fake with a crashed API pod, one BackOff event with
    ``event_message`` and these logs of ``offgridflow-api-1``."""
    project.makeconftest(
        f"""
        import sys
        import pytest
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from helpers.triage_fakes import FakePlatform, api_pod, crashed, event
        from offgridflow_runbook.probes.platform import PlatformAccess
        from offgridflow_runbook.pytest_plugin import access_key

        @pytest.fixture(scope="session")
        def platform_access(pytestconfig):
            platform = FakePlatform(
                api=[api_pod(**crashed(exit_code=78))],
                event_list=[event("BackOff", {event_message!r})],
                logs={{"offgridflow-api-1": {logs!r}}},
                previous_logs={{"offgridflow-api-1": {previous_logs!r}}},
            )
            access = PlatformAccess(platform)
            pytestconfig.stash[access_key] = access
            return access
        """
    )


def attachments(report: str) -> str:
    """The text of every attachment of a pytest-html report, decoded."""
    return "\n".join(
        base64.b64decode(blob).decode() for blob in re.findall(r"base64,([A-Za-z0-9+/=]+)", report)
    )


def test_failed_check_gets_events_logs_and_previous_logs_attached_and_redacted(
    project: pytest.Pytester,
) -> None:
    fake_platform(
        project,
        event_message="Back-off restarting failed container api",
        logs=f"starting with token {SECRET}",
        previous_logs="invalid configuration OFFGRIDFLOW_DB_POOL_MAX",
    )
    project.makepyfile(
        test_crash="""
        import pytest
        from offgridflow_runbook.runbook.steps import triage_2a_crash_loop
        from offgridflow_runbook.pytest_plugin import judge

        @pytest.mark.runbook_step("Triage 2A")
        def test_no_crash_loop(runbook_observations):
            judge(triage_2a_crash_loop(runbook_observations))
        """
    )
    result = project.runpytest("--targets-file", "targets.yaml", "--target", "dead")
    result.assert_outcomes(failed=1)
    assert (
        "crash loop: offgridflow-api-1: 3 restart(s), last termination Error, exit code 78"
        in result.stdout.str()
    )
    report = html.unescape((project.path / "out/report.html").read_text())
    for name in ("events", "last 100 log lines of offgridflow-api-1", "previous logs of offgridflow-api-1"):
        assert f'"name": "{name}"' in report, name
    attached = attachments(report)
    assert "Back-off restarting failed container api" in attached
    assert "invalid configuration OFFGRIDFLOW_DB_POOL_MAX" in attached
    assert "starting with token ***" in attached
    assert SECRET not in _all_artifacts(project.path / "out", result.stdout.str())


# -- malformed targets: one line, exit 64, before any test ----------------------------------------------
GOOD_PROFILE = "targets:\n  t:\n    platform: none\n    base_url: http://127.0.0.1:9\n"


@pytest.mark.parametrize(
    ("content", "options", "expected"),
    [
        (
            GOOD_PROFILE + '    allow_chaos: "false"\n',
            [],
            "allow_chaos must be true or false (a YAML boolean)",
        ),
        (
            GOOD_PROFILE + "    allow_chaos: false\n    allow_chaos: true\n",
            [],
            "is written twice in one mapping",
        ),
        ("targets:\n  t: 3\n", [], "target 't' must be a mapping of keys, not the number 3"),
        (GOOD_PROFILE + "    token_env: ~\n", [], "token_env must be the name of an environment variable"),
        (GOOD_PROFILE.encode() + b"    description: \xff\n", [], "is not UTF-8 text"),
        (GOOD_PROFILE, ["--base-url=ftp://x"], "target 't': --base-url must be an http:// or https:// URL"),
        (GOOD_PROFILE, ["--namespace=Off_Grid"], "target 't': --namespace must be a namespace"),
        (
            GOOD_PROFILE,
            ["--token-env=MY TOKEN"],
            "target 't': --token-env must be the name of an environment",
        ),
    ],
)
def test_a_malformed_targets_file_or_override_ends_the_run_in_one_line_with_64(
    pytester: pytest.Pytester, content: str | bytes, options: list[str], expected: str
) -> None:
    path = pytester.path / "targets.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    pytester.makepyfile(test_any="def test_it(target):\n    pass\n")
    result = pytester.runpytest(
        "-p", "no:asyncio", "-p", "no:pytest-kind", "--targets-file", str(path), "--target", "t", *options
    )
    assert result.ret == EXIT_USAGE
    assert result.outlines == []  # before any test: nothing collected, nothing run
    assert len(result.errlines) == 1, result.errlines
    assert result.errlines[0].startswith("Exit: offgridflow: ")
    assert expected in result.errlines[0]


def test_pytest_checks_with_a_malformed_targets_file_as_a_user_runs_it(pytester: pytest.Pytester) -> None:
    # a real process: `pytest checks --targets-file DIR --target t` with the checks' own ini
    checks = pytester.mkdir("checks")
    (checks / "pytest.ini").write_text((ROOT / "checks/pytest.ini").read_text())
    (checks / "test_one.py").write_text("def test_one(target):\n    pass\n")
    (pytester.path / "targets.yaml").write_text(GOOD_PROFILE + "    allow_writes: 'no'\n")
    for options in (["--targets-file", "targets.yaml"], ["--targets-file", "checks"]):
        result = pytester.runpytest_subprocess("checks", *options, "--target", "t")
        assert result.ret == EXIT_USAGE
        assert result.outlines == []
        assert len(result.errlines) == 1, result.errlines
    assert result.errlines == ["Exit: offgridflow: targets file checks is a directory, not a YAML file"]


def test_a_default_target_that_is_malformed_stops_the_run_when_a_test_asks_for_it(
    pytester: pytest.Pytester,
) -> None:
    # no target option given: runs that never ask for a target need no targets file at all
    (pytester.path / "targets.yaml").write_text("targets:\n  local: [oops]\n")
    pytester.makepyfile(test_none="def test_plain():\n    pass\n")
    assert pytester.runpytest("-p", "no:asyncio", "-p", "no:pytest-kind").ret == pytest.ExitCode.OK
    pytester.makepyfile(test_any="def test_it(target):\n    pass\n")
    result = pytester.runpytest("-p", "no:asyncio", "-p", "no:pytest-kind")
    assert result.ret == EXIT_USAGE
    assert "Traceback" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["*Exit: offgridflow: targets.yaml: target 'local' must be a mapping of keys, not a list*"]
    )


# -- hostile text from the target: shown, never obeyed ---------------------------------------------------
HOSTILE = "\x1b]0;pwned\x07\r\x1b[2J"
HOSTILE_SHOWN = "\\x1b]0;pwned\\x07\\r\\x1b[2J"


def test_control_characters_from_the_target_are_escaped_in_the_terminal_and_every_report(
    project: pytest.Pytester,
) -> None:
    fake_platform(project, event_message=f"event says {HOSTILE}", logs=f"log says {HOSTILE}")
    project.makepyfile(
        test_hostile=f"""
        import pytest

        @pytest.mark.runbook_step("Triage 2A")
        def test_answer(platform_access):
            print("captured says " + {HOSTILE!r})
            pytest.fail("the API answered " + {HOSTILE!r}, pytrace=False)
        """
    )
    result = project.runpytest("--targets-file", "targets.yaml", "--target", "dead", "-rA")
    result.assert_outcomes(failed=1)
    terminal = result.stdout.str()

    assert f"the API answered {HOSTILE_SHOWN}" in terminal
    assert f"captured says {HOSTILE_SHOWN}" in terminal
    out = project.path / "out"
    line = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert line["message"] == f"the API answered {HOSTILE_SHOWN}"
    report = html.unescape((out / "report.html").read_text())
    attached = attachments(report)
    assert f"event says {HOSTILE_SHOWN}" in attached
    assert "log says \\x1b]0;pwned\\x07" in attached  # the log's tail splits lines at the \r
    for text in (terminal, attached, report, (out / "junit.xml").read_text()):
        assert "\x1b" not in text
        assert "\x07" not in text
    assert "the API answered \\x1b]0;pwned\\x07" in (out / "junit.xml").read_text()


@pytest.mark.parametrize("pytest_kind", ["loaded", "disabled"])
def test_the_plugin_starts_beside_pytest_kind_and_its_kubeconfig_reaches_the_target(
    pytester: pytest.Pytester, pytest_kind: str
) -> None:
    # pytest-kind registers --kubeconfig too: a user's own pytest run (without the suite's
    # `-p no:pytest-kind`) must start, and the one --kubeconfig given must be the target's either way
    pytester.makefile(
        ".yaml", targets="targets:\n  t:\n    platform: none\n    base_url: http://127.0.0.1:9\n"
    )
    pytester.makeconftest(
        """
        from offgridflow_runbook.pytest_plugin.options import load_target

        def pytest_report_header(config):
            return f"kubeconfig seen: {load_target(config).kubeconfig}"
        """
    )
    pytester.makepyfile("def test_nothing(): pass")
    disable = ["-p", "no:pytest-kind"] if pytest_kind == "disabled" else []
    result = pytester.runpytest_subprocess(
        *disable, "-p", "no:cacheprovider", "--targets-file", "targets.yaml", "--target", "t",
        "--kubeconfig", "/nowhere/kubeconfig",
    )  # fmt: skip
    assert result.ret == 0, result.errlines
    result.stdout.fnmatch_lines(["kubeconfig seen: /nowhere/kubeconfig"])
