"""The change a runbook fix makes, seen on the target through the Platform's reads, whoever made it.

A reading is taken right after the fault (the baseline) and on every tick; what differs from the
baseline is attributed to the runbook section whose fix makes that change:

- the API's memory limit changed -> Fix 2 (``kubectl patch ... limits``);
- the API's image went back to the previous revision's -> Fix 3 (``kubectl rollout undo``); else
  changed (to the runbook's known-good tag, or another) -> Fix 4 (``kubectl set image``); when the
  previous revision ran the known-good tag the two are the same change, reported as Fix 3;
- a configuration value changed (back) -> Fix 3 (the rollout undo of a bad configuration);
- a database instance that was not there at the baseline is ready -> Fix 1 (database restarted).
"""

from __future__ import annotations

from dataclasses import dataclass

from offgridflow_runbook.platforms import Platform
from offgridflow_runbook.runbook.commands import known_good_tag

__all__ = ["Reading", "read_target", "section_of_change"]


@dataclass(frozen=True)
class Reading:
    """What the fixes change, read once."""

    memory_limit: str | None
    image: str | None
    previous_image: str | None  # the revision before the latest: what ``rollout undo`` goes back to
    config: tuple[tuple[str, str], ...]
    databases: frozenset[tuple[str, bool]]  # (instance: its uid and start time, ready)


def read_target(platform: Platform) -> Reading:
    """One reading through the platform (rollout history, configuration, database workloads)."""
    history = platform.rollout_history()
    latest = history[-1] if history else None
    # one instance: the pod/container and when it started (a Docker restart keeps the container's ID)
    databases = frozenset(
        (f"{w.uid or w.name}@{w.started_at.isoformat() if w.started_at else ''}", w.ready)
        for w in platform.database_workloads()
    )
    return Reading(
        memory_limit=latest.memory_limit if latest else None,
        image=latest.image if latest else None,
        previous_image=history[-2].image if len(history) > 1 else None,
        config=tuple(sorted(platform.config().items())),
        databases=databases,
    )


def section_of_change(baseline: Reading, now: Reading) -> tuple[str, str] | None:
    """The runbook section whose fix made the change from ``baseline`` to ``now``, and the change in
    words; None when nothing a fix makes has changed."""
    if now.memory_limit != baseline.memory_limit and now.memory_limit is not None:
        return "Fix 2", f"memory limit {baseline.memory_limit} -> {now.memory_limit}"
    if now.image != baseline.image and now.image is not None:
        if now.image == baseline.previous_image:
            return "Fix 3", f"rollout undone: image {baseline.image} -> {now.image} (the previous revision's)"
        if now.image.rpartition(":")[2] == known_good_tag():
            return "Fix 4", f"image {baseline.image} -> {now.image} (the known-good tag)"
        return "Fix 4", f"image {baseline.image} -> {now.image} (set by hand, not the known-good tag)"
    before, after = dict(baseline.config), dict(now.config)
    changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    if changed:
        return "Fix 3", f"rollout undone: configuration {', '.join(changed)} changed back"
    known = {instance for instance, _ in baseline.databases}
    if any(ready and instance not in known for instance, ready in now.databases):
        return "Fix 1", "database restarted (a new database instance is ready)"
    return None
