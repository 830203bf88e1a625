"""The game day's figures from a scorecard, against the goals of issue 5 (fast alert profile):

- the whole four-mode game day <= 5 minutes
- MTTR (fault -> service recovered) <= 30 s per mode
- detection <= 2 s after the failure shows on the platform (where the platform says when)
- each alert firing <= 2 s after Prometheus' floor (scrape + evaluation interval + ``for``)
- the page (fault -> first alert delivered to the receiver) <= 2 s over that alert's floor (issue 12)

    make gameday && .venv/bin/python benchmarks/bench_gameday.py [reports/gameday/scorecard.json]

It reads a scorecard; it does not run the game day (that is `make gameday`). Exit status 1 when a
goal is missed, 2 when the scorecard cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

GAMEDAY_LIMIT_S = 300.0
MTTR_LIMIT_S = 30.0
DETECTION_LAG_LIMIT_S = 2.0
ALERT_LAG_LIMIT_S = 2.0
PAGE_LAG_LIMIT_S = 2.0


def _figure(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:6.1f}"


def evaluate(scorecard: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The report lines and the goals missed."""
    lines = [
        f"game day on {scorecard['target']} ({scorecard['platform']}, alert profile {scorecard['profile']}), "
        f"started {scorecard['started_at']}",
        f"{'mode':<11}{'status':<8}{'MTTD s':>8}{'floor s':>8}{'lag s':>7}{'suite s':>8}{'MTTR s':>8}"
        f"{'outage s':>10}{'detect lag s':>14}  paged by -> receiver; alert lag s",
    ]
    missed: list[str] = []
    total = 0.0
    for entry in scorecard["experiments"]:
        total += entry.get("duration_s") or 0.0
        lags = ", ".join(f"{name} {lag:+.1f}" for name, lag in entry.get("alert_lag_s", {}).items()) or "-"
        page = entry.get("page") or {}
        paged = (
            f"{page['alert']} -> {page['receiver']}" if page else f"no page ({entry.get('pages_unknown')})"
        )
        lines.append(
            f"{entry['mode']:<11}{entry['status']:<8}{_figure(entry['mttd_s']):>8}"
            f"{_figure(page.get('floor_s')):>8}{_figure(page.get('lag_s')):>7}{_figure(entry.get('suite_mttd_s')):>8}"
            f"{_figure(entry['mttr_s']):>8}{_figure(entry['outage_s']):>10}"
            f"{_figure(entry.get('detection_lag_s')):>14}  {paged}; {lags}"
        )
        if not page:
            missed.append(f"{entry['mode']}: no page reached the receiver")
        elif page.get("lag_s") is not None and page["lag_s"] > PAGE_LAG_LIMIT_S:
            missed.append(f"{entry['mode']}: paged {page['lag_s']:.1f} s over the floor")
        if entry["status"] != "passed":
            missed.append(f"{entry['mode']}: {entry['status']}")
        if entry["mttr_s"] is None or entry["mttr_s"] > MTTR_LIMIT_S:
            missed.append(f"{entry['mode']}: MTTR {entry['mttr_s']} s > {MTTR_LIMIT_S:g} s")
        lag = entry.get("detection_lag_s")
        if lag is not None and lag > DETECTION_LAG_LIMIT_S:
            missed.append(f"{entry['mode']}: detected {lag:.1f} s after the failure showed")
        for name, alert_lag in entry.get("alert_lag_s", {}).items():
            if alert_lag > ALERT_LAG_LIMIT_S:
                missed.append(f"{entry['mode']}: {name} fired {alert_lag:.1f} s after Prometheus' floor")
    whole = scorecard.get("duration_s")
    lines.append(
        f"experiments {total:.0f} s; whole game day session {whole if whole is not None else 'n/a'} s"
    )
    if scorecard["profile"] == "fast" and (total > GAMEDAY_LIMIT_S):
        missed.append(f"the four experiments took {total:.0f} s > {GAMEDAY_LIMIT_S:g} s")
    return lines, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scorecard", nargs="?", default="reports/gameday/scorecard.json")
    arguments = parser.parse_args(argv)
    try:
        scorecard = json.loads(Path(arguments.scorecard).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"error: cannot read {arguments.scorecard}: {error} (run make gameday first)", file=sys.stderr)
        return 2
    lines, missed = evaluate(scorecard)
    print("\n".join(lines))
    for goal in missed:
        print(f"goal missed: {goal}")
    print("all goals met" if not missed else f"{len(missed)} goal(s) missed")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
