"""A run that cannot skip silently: a pytest plugin for the suite's own tests.

With ``CI=true`` (or ``--fail-on-unexpected-skip``) every skip whose reason matches no line of the
allowlist (``tests/expected-skips.txt``, or ``--expected-skips FILE``) fails the run: the exit status
is 1 and the terminal summary lists each such test with its reason. An xfail is not a skip here.

The allowlist holds one glob per line, matched against the whole skip reason, then `` # `` and why
that skip is expected; a line without its why is a usage error. Blank lines and lines starting with
``#`` are comments.

Loaded by ``tests/conftest.py`` (``pytest_plugins``); a pytester run loads it with
``-p helpers.skip_policy``.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["ALLOWLIST", "CI_ENV", "AllowedSkip", "SkipPolicy", "is_strict", "read_allowlist", "skip_reason"]

ALLOWLIST = Path(__file__).resolve().parents[1] / "expected-skips.txt"
CI_ENV = "CI"
_SEPARATOR = " # "
_PLUGIN_NAME = "offgridflow-skip-policy"


@dataclass(frozen=True)
class AllowedSkip:
    """One allowlist line: a glob over the skip reason and why such a skip is expected."""

    pattern: str
    why: str

    def allows(self, reason: str) -> bool:
        return fnmatch.fnmatchcase(reason, self.pattern)


def read_allowlist(path: Path) -> list[AllowedSkip]:
    """The allowlist's entries; a line without `` # why`` raises ``pytest.UsageError`` naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise pytest.UsageError(f"cannot read the skip allowlist {path}: {error.strerror}") from None
    allowed = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern, separator, why = line.partition(_SEPARATOR)
        if not separator or not pattern.strip() or not why.strip():
            raise pytest.UsageError(
                f"{path}:{number}: an expected skip is a reason glob, then '{_SEPARATOR.strip()}' and why"
            )
        allowed.append(AllowedSkip(pattern.strip(), why.strip()))
    return allowed


def skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The reason of a skipped test or collector (None when it is not a skip, or is an xfail)."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    longrepr = report.longrepr
    message = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return message.removeprefix("Skipped: ")


@dataclass(eq=False)  # registered as a plugin: pluggy needs it hashable
class SkipPolicy:
    """Collects the skips that no allowlist entry allows, and fails the run on them."""

    allowed: list[AllowedSkip]
    allowlist: Path
    unexpected: list[tuple[str, str]] = field(default_factory=list)

    def _note(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        reason = skip_reason(report)
        if reason is not None and not any(entry.allows(reason) for entry in self.allowed):
            self.unexpected.append((report.nodeid, reason))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._note(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._note(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.unexpected and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.unexpected:
            return
        terminalreporter.section(f"unexpected skips: {len(self.unexpected)}", sep="=", red=True, bold=True)
        for nodeid, reason in self.unexpected:
            terminalreporter.line(f"UNEXPECTED SKIP {nodeid} - {reason}", red=True)
        terminalreporter.line(
            f"The run fails on these: a skip this run may have is listed in {self.allowlist} "
            "(its reason glob and why); CI=true or --fail-on-unexpected-skip turned this on."
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("offgridflow")
    group.addoption(
        "--fail-on-unexpected-skip",
        action="store_true",
        default=False,
        help=f"fail the run on any skip that the allowlist does not name (on by itself when {CI_ENV}=true)",
    )
    group.addoption(
        "--expected-skips",
        default=str(ALLOWLIST),
        metavar="FILE",
        help="the skip allowlist: a reason glob, ' # ' and why per line (default: tests/expected-skips.txt)",
    )


def is_strict(config: pytest.Config) -> bool:
    """Whether this run fails on unexpected skips (CI=true or --fail-on-unexpected-skip)."""
    return bool(config.getoption("fail_on_unexpected_skip")) or os.environ.get(CI_ENV, "").lower() == "true"


def pytest_configure(config: pytest.Config) -> None:
    if not is_strict(config):
        return
    allowlist = Path(config.getoption("expected_skips"))
    config.pluginmanager.register(SkipPolicy(read_allowlist(allowlist), allowlist), _PLUGIN_NAME)
