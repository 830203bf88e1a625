"""pytest plugin: the suite's options, fixtures and reports (loaded through the pytest11 entry point).

Options live in one group, ``offgridflow``. Session fixtures: ``target``, ``platform_access``,
``platform`` (skips when the target has no platform access), ``api_probe``, ``prometheus`` (skips
without a Prometheus URL) and ``runbook_observations`` (one concurrent read of everything the checks
judge). A check marked ``@pytest.mark.runbook_step("Triage 1")`` gets that step as a column in the
pytest-html report, as a JUnit property and in its JSON line (``--results-jsonl``). The bearer token
is redacted from every failure message, captured output, extra and JSON line. A run with runbook
steps ends with the runbook's coverage (how many of its steps and commands the suite proves), in the
terminal summary and at the top of the pytest-html report. What collection leaves alive is kept out
of the session's garbage collections until they are over (``freeze``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from offgridflow_runbook._startup import defer_httpx_cli

# before the parts below import httpx: pytest loads this plugin in every run, and httpx's own
# command-line client (click, rich: ~60 ms) is never used by a check
defer_httpx_cli()

from offgridflow_runbook.pytest_plugin._stash import TIMINGS_ENV, access_key, redactor_key  # noqa: E402
from offgridflow_runbook.pytest_plugin.fixtures import (  # noqa: E402
    api_probe,
    judge,
    platform,
    platform_access,
    progress_writer,
    prometheus,
    runbook_observations,
    target,
)
from offgridflow_runbook.pytest_plugin.freeze import (  # noqa: E402
    pytest_collection_finish,
    release_after_cleanup,
)
from offgridflow_runbook.pytest_plugin.options import (  # noqa: E402
    CHECKS_REPORT_OPTIONS,
    exit_on_target_error,
    exit_on_unwritable_results,
    load_target,
    pytest_addoption,
    pytest_load_initial_conftests,
    target_chosen,
)
from offgridflow_runbook.pytest_plugin.report import (  # noqa: E402
    HtmlColumns,
    ResultLines,
    html_report_on,
    pytest_runtest_makereport,
    pytest_terminal_summary,
    runbook_coverage_line,
)
from offgridflow_runbook.reporting import JsonLinesWriter, Redactor, secrets_from_environment  # noqa: E402
from offgridflow_runbook.targets import TargetError  # noqa: E402

# pytest finds a plugin's hooks and fixtures among its module's attributes: the parts are gathered here.
__all__ = [
    "CHECKS_REPORT_OPTIONS",
    "TIMINGS_ENV",
    "access_key",
    "api_probe",
    "judge",
    "platform",
    "platform_access",
    "progress_writer",
    "prometheus",
    "pytest_addoption",
    "pytest_collection_finish",
    "pytest_configure",
    "pytest_load_initial_conftests",
    "pytest_runtest_makereport",
    "pytest_terminal_summary",
    "pytest_unconfigure",
    "runbook_coverage_line",
    "runbook_observations",
    "target",
]


def pytest_configure(config: pytest.Config) -> None:
    release_after_cleanup(config)  # what pytest_collection_finish freezes
    redactor = Redactor(secrets_from_environment("OFFGRIDFLOW_TOKEN", config.getoption("token_env")))
    try:
        redactor.add(*secrets_from_environment(load_target(config).token_env))
    except TargetError as error:
        # a target named on the command line is checked now, before any test; otherwise a bad target
        # is reported when a test asks for it (runs that never do need no targets file)
        if target_chosen(config):
            exit_on_target_error(error)
    config.stash[redactor_key] = redactor
    path = config.getoption("results_jsonl")
    # an empty --results-jsonl= turns the file off, as --junitxml= and --html= do theirs (how a run
    # drops a default of checks/pytest.ini)
    if path and not hasattr(config, "workerinput"):
        try:
            writer = JsonLinesWriter(Path(path), redactor)
        except OSError as error:
            exit_on_unwritable_results(path, error)
        config.pluginmanager.register(ResultLines(config, writer), "offgridflow-result-lines")
    if html_report_on(config):
        config.pluginmanager.register(HtmlColumns(config), "offgridflow-html-columns")


def pytest_unconfigure(config: pytest.Config) -> None:
    access = config.stash.get(access_key, None)
    if access is not None:
        access.close()
