"""Where a finished `make test` spent its time (a script, not a test): read from its tier reports.

    .venv/bin/python benchmarks/bench_test_tiers.py                  # reports/tiers/ of this checkout
    .venv/bin/python benchmarks/bench_test_tiers.py /tmp/clone/reports/tiers --top 15

For each tier (docker, kind, units): its wall time as pytest printed it in the tier's log, the sum of
its tests' times (JUnit, set-up and teardown included), the slowest tests and the slowest files. For
the tiers whose tests wait for a quiet stack (the e2e fixture `quiet_api` notes each wait and what it
waited for in `<tier>.quiet-waits.jsonl` beside the JUnit report): how much of the tier those waits
are, and which alerts they waited out. The
goal it serves (issue 24): a warm `make test` within 15 minutes, the tiers side by side, so the
longest tier is the figure to cut. Prints the figures and writes reports/bench/bench_test_tiers.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIERS = ("docker", "kind", "units")
# pytest's closing line: "== 87 passed, 1 skipped, 1992 deselected in 955.43s (0:15:55) =="
_SUMMARY = re.compile(r"\bin (\d+(?:\.\d+)?)s\b")


@dataclass
class Case:
    """One test as the JUnit report has it."""

    node: str
    file: str
    seconds: float
    quiet_wait_s: float | None = None
    quiet_waited_for: list[str] = field(default_factory=list)


@dataclass
class Tier:
    """A tier's figures: pytest's wall time, its tests."""

    name: str
    wall_s: float | None
    cases: list[Case]

    @property
    def tests_s(self) -> float:
        return sum(case.seconds for case in self.cases)

    @property
    def quiet_s(self) -> float:
        return sum(case.quiet_wait_s or 0.0 for case in self.cases)

    def by_file(self) -> Counter[str]:
        files: Counter[str] = Counter()
        for case in self.cases:
            files[case.file] += case.seconds
        return files

    def waited_for(self) -> Counter[str]:
        """Each alert the quiet waits waited out, with the seconds of the waits it was part of."""
        alerts: Counter[str] = Counter()
        for case in self.cases:
            for alert in case.quiet_waited_for:
                alerts[alert] += case.quiet_wait_s or 0.0
        return alerts


def test_file(classname: str) -> str:
    """The test file of a JUnit classname (its longest dotted prefix that is a file here)."""
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        if (ROOT / Path(*parts[:cut])).with_suffix(".py").is_file():
            return "/".join(parts[:cut]) + ".py"
    return classname


def read_cases(junit: Path) -> list[Case]:
    """The test cases of a JUnit report, with the quiet waits noted beside it where a test waited."""
    root = ElementTree.parse(junit).getroot()  # noqa: S314 - our own pytest wrote it
    waits = read_quiet_waits(junit.with_suffix(".quiet-waits.jsonl"))
    cases = []
    for element in root.iter("testcase"):
        classname = element.get("classname", "")
        name = element.get("name", "")
        file = test_file(classname)
        waited = waits.get(f"{file}::{name}") or waits.get(f"{file}::{classname.rsplit('.', 1)[-1]}::{name}")
        cases.append(
            Case(
                node=f"{classname}::{name}",
                file=file,
                seconds=float(element.get("time", 0) or 0),
                quiet_wait_s=waited[0] if waited else None,
                quiet_waited_for=waited[1] if waited else [],
            )
        )
    return cases


def read_quiet_waits(path: Path) -> dict[str, tuple[float, list[str]]]:
    """pytest node id -> (seconds waited, alerts waited out), from ``quiet_api``'s notes ({} without)."""
    if not path.is_file():
        return {}
    waits = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            note = json.loads(line)
            waits[note["test"]] = (float(note["quiet_wait_s"]), list(note["waited_for"]))
    return waits


def wall_seconds(log: Path) -> float | None:
    """The tier's wall time from pytest's closing line in its log (None without one)."""
    if not log.is_file():
        return None
    found = None
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if ("passed" in line or "failed" in line or "error" in line) and (match := _SUMMARY.search(line)):
            found = float(match.group(1))
    return found


def read_tiers(folder: Path) -> list[Tier]:
    """Every tier with a JUnit report in ``folder``."""
    return [
        Tier(name, wall_seconds(folder / f"{name}.log"), read_cases(folder / f"{name}.xml"))
        for name in TIERS
        if (folder / f"{name}.xml").is_file()
    ]


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def summary(tiers: list[Tier], top: int) -> dict[str, object]:
    """The figures as printed and written: per tier its wall, tests, quiet waits and slowest items."""
    return {
        tier.name: {
            "wall_s": tier.wall_s,
            "tests": len(tier.cases),
            "tests_s": round(tier.tests_s, 1),
            "quiet_waits": sum(1 for case in tier.cases if case.quiet_wait_s is not None),
            "quiet_wait_s": round(tier.quiet_s, 1),
            "quiet_waited_for_s": {a: round(s, 1) for a, s in tier.waited_for().most_common()},
            "slowest_tests": [
                {"test": c.node, "s": round(c.seconds, 1), "quiet_wait_s": c.quiet_wait_s}
                for c in sorted(tier.cases, key=lambda c: c.seconds, reverse=True)[:top]
            ],
            "slowest_files": [{"file": f, "s": round(s, 1)} for f, s in tier.by_file().most_common(top)],
        }
        for tier in tiers
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", nargs="?", type=Path, default=ROOT / "reports" / "tiers")
    parser.add_argument("--top", type=int, default=10, help="how many slowest tests and files per tier")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "bench_test_tiers.json")
    arguments = parser.parse_args(argv)
    if arguments.top < 1:
        print("error: --top must be at least 1", file=sys.stderr)
        return 64
    try:
        tiers = read_tiers(arguments.folder)
    except (OSError, ElementTree.ParseError, ValueError, KeyError) as error:
        print(f"error: cannot read the tier reports in {arguments.folder}: {error}", file=sys.stderr)
        return 2
    if not tiers:
        print(
            f"error: no tier report (docker.xml, kind.xml, units.xml) in {arguments.folder}: run make test",
            file=sys.stderr,
        )
        return 2
    figures = summary(tiers, arguments.top)
    longest = max(tiers, key=lambda t: t.wall_s or t.tests_s)
    for tier in tiers:
        line = f"{tier.name}: wall {_minutes(tier.wall_s)}, {len(tier.cases)} tests, "
        line += f"{_minutes(tier.tests_s)} in tests"
        if tier.quiet_s:
            line += f", quiet waits {_minutes(tier.quiet_s)} ({tier.quiet_s / tier.tests_s:.0%})"
        print(line)
        for alert, seconds in tier.waited_for().most_common(5):
            print(f"    waited out {alert}: in waits of {seconds:.0f} s")
        for case in sorted(tier.cases, key=lambda c: c.seconds, reverse=True)[: arguments.top]:
            waited = f" (quiet wait {case.quiet_wait_s:.0f} s)" if case.quiet_wait_s else ""
            print(f"  {case.seconds:7.1f} s  {case.node}{waited}")
        for file, seconds in tier.by_file().most_common(min(arguments.top, 5)):
            print(f"  {seconds:7.1f} s  in {file}")
    goal = "the goal is a warm make test within 15:00"
    print(f"longest tier: {longest.name} ({_minutes(longest.wall_s)}); {goal}")
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
