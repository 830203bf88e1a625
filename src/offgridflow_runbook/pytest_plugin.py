"""pytest plugin: the suite's options, fixtures and reports (loaded through the pytest11 entry point).

Options live in one group, ``offgridflow``. Session fixtures: ``target``, ``platform_access``,
``platform`` (skips when the target has no platform access), ``api_probe``, ``prometheus`` (skips
without a Prometheus URL) and ``runbook_observations`` (one concurrent read of everything the checks
judge). A check marked ``@pytest.mark.runbook_step("Triage 1")`` gets that step as a column in the
pytest-html report, as a JUnit property and in its JSON line (``--results-jsonl``). The bearer token
is redacted from every failure message, captured output, extra and JSON line. A run with runbook
steps ends with the runbook's coverage (how many of its steps and commands the suite proves), in the
terminal summary and at the top of the pytest-html report.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from offgridflow_runbook.platforms import PlatformError
from offgridflow_runbook.probes.http import ApiProbe, ProbeError
from offgridflow_runbook.probes.platform import PlatformAccess, open_platform
from offgridflow_runbook.probes.prometheus import PrometheusProbe
from offgridflow_runbook.probes.snapshot import Observations, look
from offgridflow_runbook.reporting import JsonLinesWriter, Redactor, secrets_from_environment
from offgridflow_runbook.runbook.steps import Outcome, StepResult
from offgridflow_runbook.targets import TARGET_OPTIONS, Target, TargetError, target_from_options

__all__ = ["judge", "progress_writer"]

redactor_key = pytest.StashKey[Redactor]()
access_key = pytest.StashKey[PlatformAccess]()
target_key = pytest.StashKey[Target]()
_ONE_LINE_ERRORS = (ProbeError, PlatformError, TargetError)
# where to write how long each read of the snapshot took (benchmarks/bench_checks.py sets it)
TIMINGS_ENV = "OFFGRIDFLOW_SNAPSHOT_TIMINGS"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("offgridflow", "OffGridFlow runbook suite")
    for option in TARGET_OPTIONS:
        group.addoption(option.flag, default=option.default, help=option.help)
    group.addoption(
        "--results-jsonl",
        default=None,
        help="write one JSON line per check to this file (for schedulers)",
    )
    group.addoption(
        "--gameday-reports",
        default=None,
        help="where the game day writes its scorecard, records and runs (default: reports/gameday)",
    )


# -- the checks' report defaults -----------------------------------------------------------------------
CHECKS_REPORT_OPTIONS = {
    "--html": "reports/checks/report.html",
    "--junitxml": "reports/checks/junit.xml",
    "--results-jsonl": "reports/checks/results.jsonl",
}


def _checks_ini(args: list[str]) -> Path | None:
    """The ``checks/pytest.ini`` of a checks directory named on the command line, if any."""
    for arg in args:
        if arg.startswith("-"):
            continue
        path = Path(arg.split("::", 1)[0]).resolve()
        for directory in (path, *path.parents):
            if directory.name == "checks" and (directory / "pytest.ini").is_file():
                return directory / "pytest.ini"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    """``pytest checks --targets-file targets.yaml`` makes the repository root the common ancestor,
    so pytest reads pyproject.toml instead of checks/pytest.ini: give that run the checks' reports anyway."""
    checks_ini = _checks_ini(args)
    if checks_ini is None or early_config.inipath == checks_ini:
        return
    given = {arg.split("=", 1)[0] for arg in args if arg.startswith("--")}
    defaults = [f"{option}={value}" for option, value in CHECKS_REPORT_OPTIONS.items() if option not in given]
    if "--html" not in given:
        defaults.append("--self-contained-html")
    args[:0] = defaults


# -- target and redaction ----------------------------------------------------------------------------
def _load_target(config: pytest.Config) -> Target:
    return target_from_options(config.getoption)


def pytest_configure(config: pytest.Config) -> None:
    redactor = Redactor(secrets_from_environment("OFFGRIDFLOW_TOKEN", config.getoption("token_env")))
    # a bad target is reported when a test asks for it; runs that never do need no targets file
    with contextlib.suppress(TargetError):
        redactor.add(*secrets_from_environment(_load_target(config).token_env))
    config.stash[redactor_key] = redactor
    path = config.getoption("results_jsonl")
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(
            _ResultLines(config, JsonLinesWriter(Path(path), redactor)), "offgridflow-result-lines"
        )
    if config.pluginmanager.hasplugin("html"):
        config.pluginmanager.register(_HtmlColumns(), "offgridflow-html-columns")


def pytest_unconfigure(config: pytest.Config) -> None:
    access = config.stash.get(access_key, None)
    if access is not None:
        access.close()


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    """The target profile named by ``--target``, with the command-line overrides applied."""
    try:
        chosen = _load_target(pytestconfig)
    except TargetError as error:
        pytest.exit(f"offgridflow: {error}", returncode=pytest.ExitCode.USAGE_ERROR)
    pytestconfig.stash[redactor_key].add(chosen.token)
    pytestconfig.stash[target_key] = chosen
    return chosen


@pytest.fixture(scope="session")
def platform_access(pytestconfig: pytest.Config, target: Target) -> PlatformAccess:
    """The target's platform, or the reason there is none (closed at the end of the session)."""
    access = open_platform(target)
    pytestconfig.stash[access_key] = access
    return access


@pytest.fixture(scope="session")
def platform(platform_access: PlatformAccess) -> Any:
    """The target's :class:`~offgridflow_runbook.platforms.Platform`; skips with the reason if none."""
    if platform_access.platform is None:
        pytest.skip(platform_access.reason)
    return platform_access.platform


@pytest.fixture(scope="session")
def api_probe(target: Target) -> Iterator[ApiProbe]:
    """HTTP reads of the target's API."""
    with ApiProbe(target) as probe:
        yield probe


@pytest.fixture(scope="session")
def prometheus(target: Target) -> Iterator[PrometheusProbe]:
    """The target's Prometheus; skips when the target has no ``prometheus_url``."""
    if not target.prometheus_url:
        pytest.skip(f"target {target.name!r} has no prometheus_url")
    with PrometheusProbe(target.prometheus_url, target=target.name) as probe:
        yield probe


@pytest.fixture(scope="session")
def runbook_observations(
    target: Target, api_probe: ApiProbe, platform_access: PlatformAccess
) -> Observations:
    """Everything the Triage and Verification checks judge, read once and concurrently."""
    observations = look(
        target, platform_access.platform, platform_reason=platform_access.reason, api=api_probe
    )
    timings_path = os.environ.get(TIMINGS_ENV)
    if timings_path:
        Path(timings_path).write_text(json.dumps(observations.timings()), encoding="utf-8")
    return observations


def progress_writer(config: pytest.Config) -> Callable[[str], None]:
    """A function that writes a progress line on the terminal, past pytest's output capture: for
    long fixtures (a game day, a kind cluster being built) whose output would otherwise wait."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:
        if reporter is None:
            return
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            reporter.write_line(line)

    return say


def judge(result: StepResult) -> None:
    """Turn a step's verdict into the test outcome: a one-line failure (no traceback) or a skip."""
    if result.outcome is Outcome.SKIPPED:
        pytest.skip(result.message)
    if result.outcome is Outcome.FAILED:
        details = "".join(f"\n  {line}" for line in result.evidence)
        pytest.fail(f"{result.step}: {result.message}{details}", pytrace=False)


# -- reports -----------------------------------------------------------------------------------------
def _step_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("runbook_step")
    return str(marker.args[0]) if marker and marker.args else None


def _message(report: pytest.TestReport) -> str:
    if report.passed:
        return ""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).removeprefix("Failed: ")
    return str(longrepr).strip()


def _redact_report(report: pytest.TestReport, redactor: Redactor) -> None:
    if not redactor:
        return
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = str(report.longrepr)
        if redactor(text) != text:
            report.longrepr = redactor(text)
    elif isinstance(report.longrepr, tuple):
        path, line, message = report.longrepr
        report.longrepr = (path, line, redactor(message))
    report.sections = [(title, redactor(content)) for title, content in report.sections]


def _platform_extras(config: pytest.Config, step: str | None) -> list[tuple[str, str]]:
    """Events, the last 100 log lines and the previous containers' logs, named, for a failed check."""
    access = config.stash.get(access_key, None)
    if access is None or access.platform is None:
        return []
    platform = access.platform
    named: list[tuple[str, str]] = []
    try:
        events = platform.events()
        named.append(
            (
                "events",
                "\n".join(f"{e.at:%H:%M:%S} {e.type} {e.reason} {e.involved}: {e.message}" for e in events)
                or "no events",
            )
        )
        for name, text in platform.api_logs(tail=100).items():
            named.append((f"last 100 log lines of {name}", text))
        if step in ("Triage 1", "Triage 2A", "Verification 1"):
            for name, text in platform.api_logs(tail=100, previous=True).items():
                named.append((f"previous logs of {name}", text))
    except Exception as error:  # the extras explain a failure; they must not replace it
        named.append(("platform error", f"could not read events/logs: {error}"))
    return named


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    step = _step_of(item)
    if step is not None:
        report.user_properties.append(("runbook_step", step))
    report.runbook_step = step  # type: ignore[attr-defined]
    if report.failed and call.excinfo is not None and isinstance(call.excinfo.value, _ONE_LINE_ERRORS):
        report.longrepr = str(call.excinfo.value)
    redactor = item.config.stash[redactor_key]
    if report.failed and step is not None and item.config.pluginmanager.hasplugin("html"):
        from pytest_html import extras  # type: ignore[import-untyped]

        attached = getattr(report, "extras", [])
        for name, text in _platform_extras(item.config, step):
            attached.append(extras.text(redactor(text), name=name))
        report.extras = attached  # type: ignore[attr-defined]
    _redact_report(report, redactor)
    return report


class _ResultLines:
    """One JSON line per check: its target, step, outcome, message and duration."""

    def __init__(self, config: pytest.Config, writer: JsonLinesWriter) -> None:
        self.config = config
        self.writer = writer

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        call_result = report.when == "call"
        setup_or_teardown_problem = (report.when == "setup" and not report.passed) or report.failed
        if not (call_result or setup_or_teardown_problem):
            return
        chosen = self.config.stash.get(target_key, None)
        self.writer.write(
            {
                "target": chosen.name if chosen else self.config.getoption("target"),
                "check": report.nodeid,
                "step": getattr(report, "runbook_step", None),
                "outcome": "error" if not call_result and report.failed else report.outcome,
                "message": _message(report),
                "duration_seconds": round(report.duration, 4),
            }
        )


def runbook_coverage_line() -> str:
    """``runbook coverage: 46/52 steps and commands proved (88%)``, or why it is unknown."""
    # imported here: resolving the proofs reads the experiments and their Chaos Toolkit modules,
    # which a run without runbook steps (the suite's own tests) should not pay for at start-up
    from offgridflow_runbook.runbook import RunbookError, load_runbook
    from offgridflow_runbook.runbook.coverage import coverage

    try:
        return coverage(load_runbook()).summary()
    except RunbookError as error:
        return f"runbook coverage: unknown ({error})"


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    ran_steps = any(
        getattr(report, "runbook_step", None)
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport)
    )
    if ran_steps:
        terminalreporter.write_line(
            runbook_coverage_line() + " (offgridflow-runbook coverage lists each step)"
        )


class _HtmlColumns:
    """The 'Runbook step' column of the pytest-html results table, and the runbook's coverage."""

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str]) -> None:
        prefix.append(f"<p>{html.escape(runbook_coverage_line())} (offgridflow-runbook coverage)</p>")

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, '<th class="sortable" data-column-type="runbook_step">Runbook step</th>')

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        step = getattr(report, "runbook_step", None) or ""
        cells.insert(1, f'<td class="col-runbook-step">{html.escape(step)}</td>')

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "OffGridFlow runbook checks"
