"""The ``offgridflow-runbook`` command."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    raise SystemExit("offgridflow-runbook: no commands yet")
