"""Monitoring that has settled: after Prometheus (re)starts, every scrape target it discovers is up
and none of the runbook's alerts is pending or firing.

A Prometheus that has just started (a changed rule or profile rolls it out) evaluates its rules
before its first scrapes: the alerts on a missing series (``OffGridFlowAPIDown``, ``PostgreSQLDown``)
are pending, and in the fast profile, whose ``for`` is a few seconds, they fire and page although
nothing is down. Environments wait for this before they say they are up.

    python -m offgridflow_runbook.environments.settle PROMETHEUS_URL [--deadline SECONDS]

exits 0 once settled, 1 with one line naming what is still down or alerting at the deadline, 64 on a
bad argument.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from offgridflow_runbook.environments.arguments import seconds_above_zero
from offgridflow_runbook.probes.http import ProbeError
from offgridflow_runbook.probes.prometheus import PrometheusProbe
from offgridflow_runbook.targets import url_problem

__all__ = ["main", "unsettled", "wait_until_settled"]

# after every target is up, a rule evaluation or two must pass before "no alert" means anything
_EVALUATIONS_S = 5.0


def unsettled(prometheus_url: str) -> list[str]:
    """What keeps the monitoring from being settled now: targets not up, the runbook's alerts pending
    or firing, or why Prometheus could not be read ([] when settled)."""
    try:
        with PrometheusProbe(prometheus_url) as prometheus:
            return prometheus.not_quiet()
    except ProbeError as error:
        return [f"Prometheus not readable: {error}"]


def wait_until_settled(
    prometheus_url: str,
    *,
    deadline: float,
    say: Callable[[str], None] = print,
    interval: float = 2.0,
) -> list[str]:
    """Wait (at most ``deadline`` s) until every target is up and, an evaluation or two later, no
    runbook alert is pending or firing. Returns what is still unsettled at the deadline ([] when
    settled); says what it waits for whenever that changes."""
    end = time.monotonic() + deadline
    shown: list[str] | None = None
    settled_since: float | None = None
    while True:
        left = unsettled(prometheus_url)
        now = time.monotonic()
        if not left:
            settled_since = settled_since if settled_since is not None else now
            if now - settled_since >= _EVALUATIONS_S:
                return []
        else:
            settled_since = None
            if left != shown:
                say(f"waiting for the monitoring to settle (at most {deadline:g} s): {'; '.join(left)}")
                shown = left
        if now >= end:
            return left
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m offgridflow_runbook.environments.settle", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("prometheus_url", help="e.g. http://127.0.0.1:19090")
    parser.add_argument(
        "--deadline", type=seconds_above_zero, default=120.0, help="seconds to wait at most (default 120)"
    )
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as stop:
        return 64 if stop.code else 0
    # checked now: a URL that can never answer would be waited on for the whole deadline, then
    # reported as monitoring that did not settle
    problem = url_problem(arguments.prometheus_url)
    if problem is not None:
        print(f"error: PROMETHEUS_URL {arguments.prometheus_url!r} {problem}", file=sys.stderr)
        return 64
    left = wait_until_settled(arguments.prometheus_url, deadline=arguments.deadline)
    if left:
        print(f"the monitoring did not settle within {arguments.deadline:g} s: {'; '.join(left)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
