"""The reports: the runbook step of each check (pytest-html column, JUnit property, JSON line), the
token redacted from everything written, platform extras on failure, and the runbook's coverage."""

from __future__ import annotations

import html
from collections.abc import Generator
from typing import Any

import pytest

from offgridflow_runbook.pytest_plugin._stash import (
    ONE_LINE_ERRORS,
    access_key,
    redactor_key,
    target_key,
)
from offgridflow_runbook.pytest_plugin.options import exit_on_unwritable_results
from offgridflow_runbook.reporting import JsonLinesWriter, Redactor, printable

# pytest-html's plugin as its entry point names it, and as `-p pytest_html.plugin` does where the
# entry points are not read (checks/pytest.ini: --disable-plugin-autoload)
_HTML_PLUGIN_NAMES = ("html", "pytest_html.plugin")


def html_report_on(config: pytest.Config) -> bool:
    """Whether pytest-html takes part in this run, however it was loaded."""
    return any(config.pluginmanager.hasplugin(name) for name in _HTML_PLUGIN_NAMES)


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


def _clean_report(report: pytest.TestReport, redactor: Redactor) -> None:
    """The token redacted, and control characters shown as escapes, in everything the report shows:
    a failure's text holds events, logs and answers from the target, which must not steer a terminal."""

    def clean(text: str) -> str:
        return printable(redactor(text))

    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        text = str(report.longrepr)
        if clean(text) != text:
            report.longrepr = clean(text)
    elif isinstance(report.longrepr, tuple):
        path, line, message = report.longrepr
        report.longrepr = (path, line, clean(message))
    report.sections = [(title, clean(content)) for title, content in report.sections]


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
    if report.failed and call.excinfo is not None and isinstance(call.excinfo.value, ONE_LINE_ERRORS):
        # one line, and the notes added on its way up (what a clean-up did after it, say)
        report.longrepr = "\n".join([str(call.excinfo.value), *getattr(call.excinfo.value, "__notes__", ())])
    redactor = item.config.stash[redactor_key]
    if report.failed and step is not None and html_report_on(item.config):
        from pytest_html import extras  # type: ignore[import-untyped]

        attached = getattr(report, "extras", [])
        for name, text in _platform_extras(item.config, step):
            attached.append(extras.text(printable(redactor(text)), name=name))
        report.extras = attached  # type: ignore[attr-defined]
    _clean_report(report, redactor)
    return report


class ResultLines:
    """One JSON line per check: its target, step, outcome, message and duration."""

    def __init__(self, config: pytest.Config, writer: JsonLinesWriter) -> None:
        self.config = config
        self.writer = writer
        self.unwritable: OSError | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.unwritable is not None:
            return
        call_result = report.when == "call"
        setup_or_teardown_problem = (report.when == "setup" and not report.passed) or report.failed
        if not (call_result or setup_or_teardown_problem):
            return
        chosen = self.config.stash.get(target_key, None)
        try:
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
        except OSError as error:
            # a full disk, say: the checks still run and report elsewhere, and the run ends on it
            self.unwritable = error

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self) -> Generator[None, Any, Any]:
        """After every other part has finished (the terminal summary), end with 64 and one line on
        stderr if a line was lost: a scheduler must not take a short file for the whole run."""
        result = yield
        if self.unwritable is not None:
            exit_on_unwritable_results(self.writer.path, self.unwritable)
        return result


def runbook_coverage_line() -> str:
    """``runbook coverage: 46/52 steps and commands proved (88%)``, or why it is unknown."""
    # imported here: resolving the proofs reads the experiments and their Chaos Toolkit modules,
    # which a run without runbook steps (the suite's own tests) should not pay for at start-up
    from offgridflow_runbook.coverage import runbook_coverage
    from offgridflow_runbook.runbook import RunbookError

    try:
        return runbook_coverage().summary()
    except RunbookError as error:
        return f"runbook coverage: unknown ({error})"


_coverage_key = pytest.StashKey[str]()


def session_coverage_line(config: pytest.Config) -> str:
    """:func:`runbook_coverage_line`, worked out once per run (the terminal and HTML report show it)."""
    if _coverage_key not in config.stash:
        config.stash[_coverage_key] = runbook_coverage_line()
    return config.stash[_coverage_key]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    ran_steps = any(
        getattr(report, "runbook_step", None)
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport)
    )
    if ran_steps:
        terminalreporter.write_line(
            session_coverage_line(config) + " (offgridflow-runbook coverage lists each step)"
        )


class HtmlColumns:
    """The 'Runbook step' column of the pytest-html results table, and the runbook's coverage."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str]) -> None:
        line = session_coverage_line(self.config)
        prefix.append(f"<p>{html.escape(line)} (offgridflow-runbook coverage)</p>")

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, '<th class="sortable" data-column-type="runbook_step">Runbook step</th>')

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        step = getattr(report, "runbook_step", None) or ""
        cells.insert(1, f'<td class="col-runbook-step">{html.escape(step)}</td>')

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "OffGridFlow runbook checks"
