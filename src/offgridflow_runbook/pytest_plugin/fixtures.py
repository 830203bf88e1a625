"""The session fixtures: one target, its platform, its API and Prometheus probes, and one look at it."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from offgridflow_runbook.probes.http import ApiProbe
from offgridflow_runbook.probes.platform import PlatformAccess, open_platform
from offgridflow_runbook.probes.prometheus import PrometheusProbe
from offgridflow_runbook.probes.snapshot import Observations, look
from offgridflow_runbook.pytest_plugin._stash import (
    TIMINGS_ENV,
    access_key,
    redactor_key,
    target_key,
)
from offgridflow_runbook.pytest_plugin.options import exit_on_target_error, load_target
from offgridflow_runbook.runbook.steps import Outcome, StepResult
from offgridflow_runbook.targets import Target, TargetError


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    """The target profile named by ``--target``, with the command-line overrides applied."""
    try:
        chosen = load_target(pytestconfig)
    except TargetError as error:
        exit_on_target_error(error)
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
