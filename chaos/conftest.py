"""The game day under pytest: ``pytest chaos --target local`` (or ``--target kind``).

One :class:`GameDay` per session runs the experiments in order under the stack lock and keeps
``reports/gameday/`` (scorecard.json, index.html, post-incident records) current after each one.
Each test's pytest-html row links to the scorecard.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from offgridflow_runbook.coverage import runbook_coverage
from offgridflow_runbook.environments.local import StackError, stack_lock
from offgridflow_runbook.gameday.session import GameDay
from offgridflow_runbook.ledger import Ledger
from offgridflow_runbook.pytest_plugin import progress_writer
from offgridflow_runbook.restore import restore
from offgridflow_runbook.targets import ChaosNotAllowed, Target, require_chaos_allowed

CHAOS_DIR = Path(__file__).parent
EXPERIMENTS_DIR = CHAOS_DIR / "experiments"


def reports_dir(config: pytest.Config) -> Path:
    chosen = config.getoption("--gameday-reports")
    return Path(chosen).resolve() if chosen else config.rootpath / "reports" / "gameday"


def settle_the_ledger(config: pytest.Config, target: Target) -> None:
    """Refuse a target with an open fault ledger entry (a killed run's fault may still be in place:
    a new fault on top of it would be scored wrongly and undone in the wrong order), one line per
    entry with the command that restores it; with ``--restore-first``, restore it first."""
    lines = Ledger().open_lines(target.name)
    if not lines:
        return
    if not config.getoption("--restore-first"):
        lines.append("or run the game day with --restore-first")
        pytest.exit("offgridflow: " + "\noffgridflow: ".join(lines), returncode=pytest.ExitCode.USAGE_ERROR)
    say = progress_writer(config)
    report = restore(target, say=say)
    for line in report.lines():
        say(f"[gameday] restore: {line}")
    if report.exit_code != 0:
        pytest.exit(
            "offgridflow: --restore-first could not restore: " + " | ".join(report.lines()),
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture(scope="session")
def chaos_target(pytestconfig: pytest.Config, target: Target) -> Target:
    """The target, refused before anything runs when it does not allow chaos or when the fault
    ledger has an open entry for it (unless ``--restore-first``)."""
    try:
        require_chaos_allowed(target)
    except ChaosNotAllowed as error:
        pytest.exit(f"offgridflow: {error}", returncode=pytest.ExitCode.USAGE_ERROR)
    settle_the_ledger(pytestconfig, target)
    if target.token is None:
        # a game day in which nothing ran must not exit 0 to whatever scheduled it
        pytest.exit(
            f"${target.token_env} is not set (for the local stack: source .state/env, written by make up)",
            returncode=64,
        )
    return target


@pytest.fixture(scope="session")
def gameday(pytestconfig: pytest.Config, chaos_target: Target) -> Iterator[GameDay]:
    """The session's game day; its reports are written after every experiment and at the end."""
    say = progress_writer(pytestconfig)

    with contextlib.ExitStack() as held:
        # the local stack's lock, for a game day on the local stack: the kind cluster is not the
        # stack, and a kind game day must not wait for whatever holds the stack (make test runs the
        # Docker e2e tier, which holds it for its whole session, beside the kind tier)
        if chaos_target.platform == "docker":
            try:
                held.enter_context(stack_lock())
            except StackError as error:
                pytest.fail(f"offgridflow: {error}", pytrace=False)
        day = GameDay(
            chaos_target,
            experiments_dir=EXPERIMENTS_DIR,
            reports_dir=reports_dir(pytestconfig),
            say=say,
            coverage=runbook_coverage,
        )
        yield day
        written = day.write()
        say(f"[gameday] scorecard: {written['scorecard']}  report: {written['index']}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    config = item.config
    if report.when == "call" and config.pluginmanager.hasplugin("html"):
        from pytest_html import extras  # type: ignore[import-untyped]

        html_path = config.getoption("htmlpath", None)
        index = reports_dir(config) / "index.html"
        link = os.path.relpath(index, Path(html_path).resolve().parent) if html_path else index.as_uri()
        report.extras = [*getattr(report, "extras", []), extras.url(link, name="game day scorecard")]
    return report
