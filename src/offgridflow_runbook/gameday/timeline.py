"""One timeline chart per experiment (matplotlib, rendered to PNG bytes): the outage, each alert's
pending and firing spans, triage's verdicts from the fault to the fix (green right, red wrong, grey
healthy-so-far or inconclusive), and the moments of fault, detection, fix, recovery and verification,
in seconds since the fault."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display: the chart goes into a file
import matplotlib.pyplot as plt

from offgridflow_runbook.gameday.scorecard import ExperimentScore

__all__ = ["timeline_png"]

_MOMENTS = (
    ("fault", "fault_at", "#b71c1c"),
    ("detected", "detected_at", "#e65100"),
    ("healed by itself", "self_healed_at", "#6a1b9a"),
    ("fix started", "fix_started_at", "#1565c0"),
    ("recovered", "recovered_at", "#2e7d32"),
    ("verified", "verified_at", "#1b5e20"),
)


def _verdict_colour(verdict: dict[str, object]) -> str:
    if verdict["right"]:
        return "#a5d6a7"
    return "#ef5350" if verdict["outcome"] in ("diagnosed", "unreachable") else "#e0e0e0"


def timeline_png(score: ExperimentScore, outages: list[tuple[float, float]] | None = None) -> bytes:
    """The experiment's timeline as PNG bytes (x axis: seconds since the fault)."""
    zero = score.fault_at or (score.phases[0]["at"] if score.phases else 0.0)
    rows: list[tuple[str, list[tuple[float, float]], str]] = []
    spans = outages if outages is not None else []
    if not spans and score.fault_at is not None and score.recovered_at is not None:
        spans = [(score.fault_at, score.recovered_at)]
    rows.append(("service impaired", [(a - zero, b - a) for a, b in spans], "#ef9a9a"))
    end = max([score.verified_at or zero, *(b for _, b in spans)]) + 5
    for alert in score.alerts:
        if alert.pending_at is None:
            continue
        pending_end = alert.firing_at or alert.resolved_at or end
        bars = [(alert.pending_at - zero, pending_end - alert.pending_at)]
        rows.append((f"{alert.name} pending", bars, "#fff176"))
        if alert.firing_at is not None:
            bars = [(alert.firing_at - zero, (alert.resolved_at or end) - alert.firing_at)]
            rows.append((f"{alert.name} firing", bars, "#ffb74d"))

    verdicts = score.triage.verdicts
    if verdicts:
        ends = [v["at_s"] for v in verdicts[1:]] + [
            (score.fix_started_at - zero) if score.fix_started_at else verdicts[-1]["at_s"] + 2
        ]
        bars = [(v["at_s"], max(end - v["at_s"], 0.5)) for v, end in zip(verdicts, ends, strict=True)]
        colours = [_verdict_colour(v) for v in verdicts]
        rows.append(("triage verdict", bars, colours[0]))
    figure, axes = plt.subplots(figsize=(9, 1.2 + 0.45 * len(rows)), dpi=90)
    for index, (label, bars, colour) in enumerate(rows):
        if label == "triage verdict":  # one colour per verdict: right, wrong, neither
            axes.broken_barh(bars, (index - 0.35, 0.7), facecolors=colours)
            for (start, width), verdict in zip(bars, verdicts, strict=True):
                axes.text(start + width / 2, index, verdict["section"], ha="center", va="center", fontsize=6)
        else:
            axes.broken_barh(bars, (index - 0.35, 0.7), facecolors=colour)
    axes.set_yticks(range(len(rows)), [label for label, _, _ in rows])
    for label, attribute, colour in _MOMENTS:
        at = getattr(score, attribute)
        if at is not None:
            axes.axvline(
                at - zero, color=colour, linestyle="--", linewidth=1.2, label=f"{label} {at - zero:+.1f} s"
            )
    axes.set_xlabel("seconds since the fault")
    axes.set_ylim(-0.6, len(rows) - 0.4)
    axes.set_title(
        f"{score.mode}: {score.status}, MTTD {score.mttd_s or 0:.1f} s, MTTR {score.mttr_s or 0:.1f} s"
    )
    if any(
        getattr(score, attribute) is not None for _, attribute, _ in _MOMENTS
    ):  # a failed run may have none
        axes.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.35 if len(rows) < 3 else -0.18), ncol=5, fontsize=7
        )
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
