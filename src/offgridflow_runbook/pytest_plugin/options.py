"""The suite's options (one group, ``offgridflow``) and the checks' report defaults."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import NoReturn

import pytest

from offgridflow_runbook.reporting import EXIT_USAGE, printable
from offgridflow_runbook.targets import TARGET_OPTIONS, Target, TargetError, target_from_options

# pytest-kind (a dependency) registers --kubeconfig too, with the same meaning and dest: where it is
# loaded, its option is the one both read, since a second registration would stop pytest at start-up
_PYTEST_KIND = "pytest-kind"
_SHARED_WITH_PYTEST_KIND = frozenset({"--kubeconfig"})


def _pytest_kind_loads(pluginmanager: pytest.PytestPluginManager) -> bool:
    """Whether pytest-kind's plugin takes part in this run: installed, autoloaded, not ``-p no:``'d."""
    return (
        importlib.util.find_spec("pytest_kind") is not None
        and not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
        and not pluginmanager.is_blocked(_PYTEST_KIND)
    )


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("offgridflow", "OffGridFlow runbook suite")
    shared = _SHARED_WITH_PYTEST_KIND if _pytest_kind_loads(pluginmanager) else frozenset()
    for option in TARGET_OPTIONS:
        if option.flag not in shared:
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
    group.addoption(
        "--restore-first",
        action="store_true",
        default=False,
        help="before a game day, restore what the fault ledger says a killed run left on the target "
        "(offgridflow-runbook restore); without it a game day refuses a target with an open entry",
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
def load_target(config: pytest.Config) -> Target:
    """The target the options name, overrides applied: the very function the command line uses."""
    return target_from_options(config.getoption)


def target_chosen(config: pytest.Config) -> bool:
    """Whether the command line names a target, a targets file or an override (not only defaults)."""
    return any(config.getoption(option.dest) != option.default for option in TARGET_OPTIONS)


def exit_on_target_error(error: TargetError) -> NoReturn:
    """End the run: the mistake in one line, exit 64 (as the command line's usage errors)."""
    pytest.exit(f"offgridflow: {printable(str(error), newlines=False)}", returncode=EXIT_USAGE)


def exit_on_unwritable_results(path: str | Path, error: OSError) -> NoReturn:
    """End the run: --results-jsonl cannot be written, in one line, exit 64 (as a bad option value)."""
    where = f"{error.filename}: " if error.filename is not None and str(error.filename) != str(path) else ""
    pytest.exit(
        f"offgridflow: --results-jsonl {printable(str(path), newlines=False)} cannot be written: "
        f"{printable(where + (error.strerror or str(error)), newlines=False)}",
        returncode=EXIT_USAGE,
    )
