"""pytest plugin: the suite's options, markers and fixtures (loaded through the pytest11 entry point)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("offgridflow", "OffGridFlow runbook suite")
    group.addoption(
        "--target",
        default="local",
        help="target profile from the targets file to check (default: local)",
    )
