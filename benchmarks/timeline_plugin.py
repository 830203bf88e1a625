"""A pytest plugin for benchmarks/check_run_timeline.py: the moments a check run reaches each phase.

Loaded with ``-p timeline_plugin`` (``benchmarks/`` on PYTHONPATH); each moment is appended, as a JSON
line ``{"at": <Unix time>, "what": ...}``, to the file named by $OFFGRIDFLOW_TIMELINE_FILE, written
at once (a test's output is captured: stderr would not show it in time).
"""

from __future__ import annotations

import atexit
import json
import os
import time
from typing import Any

import pytest

TIMELINE_ENV = "OFFGRIDFLOW_TIMELINE_FILE"


def mark(what: str) -> None:
    path = os.environ.get(TIMELINE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps({"at": time.time(), "what": what}) + "\n")


def pytest_configure(config: pytest.Config) -> None:
    # this plugin is loaded after pytest and the plugins the ini names: start-up is over
    mark("plugins loaded")
    atexit.register(mark, "exit")


def pytest_collection_finish(session: pytest.Session) -> None:
    mark("collection finished")


def pytest_fixture_setup(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
    mark(f"fixture {fixturedef.argname}")


def pytest_runtest_call(item: pytest.Item) -> None:
    mark(f"check {item.name}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    mark("checks done")


def pytest_unconfigure(config: pytest.Config) -> None:
    mark("reports written")
