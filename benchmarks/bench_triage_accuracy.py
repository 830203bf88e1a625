"""Triage's accuracy against the fault labels of the scenario corpus, per state class, and the confusion
between runbook sections.

    .venv/bin/python benchmarks/bench_triage_accuracy.py [--corpus DIR] [--all]

Each recording under ``tests/runbook/triage/scenarios/`` is judged again (``decide`` over the recorded
look, with the event window it was recorded with) and compared with its label, the verdict an expert
gives for the fault that was made (``helpers.triage_corpus``). Printed: accuracy over the real
recordings (``--all``: every recording, seeded ones too) by origin and by fault family, every miss,
and a confusion table of the first section named (label: rows, verdict: columns; ``healthy`` and
``inconclusive`` where no section is named). A benchmark prints figures: it exits 0 whatever they are.
It judges recorded looks only, so it runs in seconds and needs no target.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the corpus model lives beside the corpus' tests

from helpers.triage_corpus import SCENARIOS_DIR, Scenario, first_section, load_corpus, verdict_line  # noqa: E402


def _figure(scenarios: list[Scenario]) -> str:
    right = sum(1 for scenario in scenarios if not scenario.label_misses)
    share = f"{100 * right / len(scenarios):.0f}%" if scenarios else "-"
    return f"{right}/{len(scenarios)} ({share})"


def _by(scenarios: list[Scenario], key: str) -> list[str]:
    groups: dict[str, list[Scenario]] = {}
    for scenario in scenarios:
        value = scenario.origin if key == "origin" else str(scenario.label[key])
        groups.setdefault(value, []).append(scenario)
    width = max((len(name) for name in groups), default=0)
    return [f"  {name:<{width}}  {_figure(group)}" for name, group in sorted(groups.items())]


def confusion(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """A table of (label, verdict) counts: one row per label, one column per verdict."""
    counts = Counter(pairs)
    rows = sorted({label for label, _ in counts})
    columns = sorted({verdict for _, verdict in counts})
    width = max([len("label \\ verdict"), *map(len, rows)])
    widths = [max(len(column), 3) for column in columns]
    lines = [
        "  "
        + " | ".join(
            ["label \\ verdict".ljust(width), *(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
        )
    ]
    lines.append("  " + "-+-".join(["-" * width, *("-" * w for w in widths)]))
    for row in rows:
        cells = [
            str(counts.get((row, column), "") or ".").rjust(w)
            for column, w in zip(columns, widths, strict=True)
        ]
        lines.append("  " + " | ".join([row.ljust(width), *cells]))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=SCENARIOS_DIR, help="the scenarios folder")
    parser.add_argument("--all", action="store_true", help="judge the seeded recordings too")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    corpus = load_corpus(args.corpus)
    judged = corpus if args.all else [scenario for scenario in corpus if scenario.real]
    for scenario in judged:
        _ = scenario.diagnosis  # judge each once, timed below
    seconds = time.perf_counter() - started

    which = "every recording" if args.all else "the real recordings"
    print(f"triage accuracy against the fault labels, {which}: {_figure(judged)}")
    print(f"({len(corpus)} recordings in {args.corpus}, {len(judged)} judged in {seconds:.2f} s)")
    retaken = [s.id for s in judged if s.meta["origin"].get("retaken")]
    if retaken:
        print(
            f"note: {len(retaken)} were kept by an older recorder that looked again until triage agreed "
            f"(a first look that disagreed may be missing): {', '.join(retaken)}"
        )
    print("\nby origin:")
    print("\n".join(_by(judged, "origin")))
    print("\nby fault family:")
    print("\n".join(_by(judged, "family")))
    print("\nby what an expert names:")
    print("\n".join(_by(judged, "expert")))
    misses = [scenario for scenario in judged if scenario.label_misses]
    print(f"\nmisses ({len(misses)}):")
    for scenario in misses:
        label = scenario.label
        print(
            f"  {scenario.id}: label {label['outcome']} {label['sections']}, "
            f"verdict {verdict_line(scenario.diagnosis)}: {'; '.join(scenario.label_misses)}"
        )
    if not misses:
        print("  none")
    print("\nconfusion of the first section named (rows: the label, columns: the verdict):")
    print("\n".join(confusion((first_section(s.label), first_section(s.diagnosis)) for s in judged)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
