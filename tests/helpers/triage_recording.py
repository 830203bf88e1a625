"""Recording one look at a real target for the triage corpus: what the Docker and kind recorders share.

A recorder writes each fault's label first (``helpers.triage_corpus.label``), makes the fault, waits
(bounded) until it shows, takes one look exactly as ``offgridflow-runbook diagnose --record`` does
(:func:`keep_look`), and always puts the target back (:func:`recorded`). The look is kept whatever
triage says of it: a verdict that disagrees with the label is kept as a known miss, never retaken.

The target comes from the project's ``targets.yaml`` (``$OFFGRIDFLOW_HOME``, else this checkout): run
from a worktree with ``OFFGRIDFLOW_HOME=/path/to/main`` to use the main checkout's ``.state/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from helpers.triage_corpus import scenario_block
from offgridflow_runbook.probes import record
from offgridflow_runbook.probes.platform import open_platform
from offgridflow_runbook.probes.snapshot import Observations
from offgridflow_runbook.project import project_root
from offgridflow_runbook.runbook.evidence import DEFAULT_SINCE
from offgridflow_runbook.runbook.triage import Diagnosis, Outcome, decide, look_for_triage
from offgridflow_runbook.targets import Target, load_target

__all__ = [
    "DATABASE_CHANGES",
    "DatabaseChange",
    "Recorder",
    "database_change",
    "recorded",
    "wait",
    "write_refused",
]


def wait(what: str, condition: Callable[[], bool], timeout: float, interval: float = 1.0) -> None:
    """Until ``condition()`` holds, at most ``timeout`` seconds; then the run stops, naming ``what``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(interval)


def recorded(
    look: Callable[[], object],
    *,
    apply: Callable[[], object],
    restore: Callable[[], object],
    shows: tuple[str, Callable[[], bool]] | None = None,
    shows_timeout: float = 60,
    before: Callable[[], object] = lambda: None,
    back: Callable[[], object] = lambda: None,
) -> None:
    """``before`` (a quiet target: nothing left over from an earlier fault), then apply a fault, wait
    until it ``shows`` (bounded), ``look`` once, and always ``restore`` the target; then ``back`` (the
    target healthy again, before the next fault)."""
    before()
    try:
        apply()
        if shows is not None:
            wait(shows[0], shows[1], shows_timeout)
        look()
    finally:
        restore()
    back()


@dataclass(frozen=True)
class DatabaseChange:
    """What a DBA changes in PostgreSQL that the API meets on its next connection: the SQL, its undo
    (``{password}``: the application role's own password, quoted for SQL), what it does, and whether
    only a write shows it (reads and ``/health/ready`` still answer)."""

    change: str
    undo: str
    description: str
    writes_only: bool = False


DATABASE_CHANGES = {
    "db-connection-limit-zero": DatabaseChange(
        "ALTER DATABASE offgridflow CONNECTION LIMIT 0",
        "ALTER DATABASE offgridflow CONNECTION LIMIT -1",
        "ALTER DATABASE offgridflow CONNECTION LIMIT 0 and the API's sessions ended: PostgreSQL runs and "
        "answers pg_isready, and refuses every new connection to the API's database",
    ),
    "db-password-changed": DatabaseChange(
        "ALTER ROLE offgridflow PASSWORD 'rotated-by-the-dba-not-in-the-secret'",
        "ALTER ROLE offgridflow PASSWORD '{password}'",
        "the application role's password changed in PostgreSQL and not in the API's secret; the API's "
        "sessions ended: every new connection fails password authentication",
    ),
    "db-read-only": DatabaseChange(
        "ALTER DATABASE offgridflow SET default_transaction_read_only = on",
        "ALTER DATABASE offgridflow RESET default_transaction_read_only",
        "the API's database set read-only (default_transaction_read_only, as a full disk or a failover "
        "to a replica leaves it) and the API's sessions ended: reads and /health/ready answer, every "
        "write fails",
        writes_only=True,
    ),
}


def database_change(
    name: str, password: str, psql: Callable[[str], object], end_api_sessions: str
) -> tuple[Callable[[], object], Callable[[], object]]:
    """The fault ``name`` of :data:`DATABASE_CHANGES` and its put-back, each followed by
    ``end_api_sessions`` (SQL ending the API's sessions, as a network blip or a failover does) so that
    the API's pool meets the setting on its next connection."""
    change = DATABASE_CHANGES[name]
    restored = change.undo.format(password=password.replace("'", "''"))
    return (
        lambda: (psql(change.change), psql(end_api_sessions)),
        lambda: (psql(restored), psql(end_api_sessions)),
    )


def write_refused(target: Target) -> bool:
    """A write (``POST /v1/activities`` with the target's token) is answered with a server error."""
    try:
        answer = httpx.post(
            f"{target.base_url}/v1/activities",
            json={
                "source": "triage-recorder",
                "quantity": 1,
                "unit": "kWh",
                "occurred_at": "2026-01-01T00:00:00Z",
            },
            headers={"Authorization": f"Bearer {target.token}"},
            timeout=5,
        )
    except httpx.HTTPError:
        return False
    return answer.status_code >= 500


@dataclass(frozen=True)
class Recorder:
    """Where a recorder keeps its looks: the target profile it looks at, the corpus folder, the origin
    class (``real-kind``, ``real-docker``) and the script that made the faults, and the labels;
    ``settle`` waits (bounded) until the target is back after a fault (rollouts done, the API ready)."""

    target_name: str
    out: Path
    origin_class: str
    by: str
    labels: Mapping[str, dict[str, Any]]
    settle: Callable[[], object] = lambda: None

    def fault(
        self,
        name: str,
        description: str,
        *,
        apply: Callable[[], object],
        restore: Callable[[], object],
        shows: tuple[str, Callable[[], bool]] | None = None,
        shows_timeout: float = 180,
    ) -> None:
        """On a settled, quiet target: the fault, one look kept with its label, the target put back
        and settled again."""
        recorded(
            lambda: self.keep_look(name, description),
            apply=apply,
            restore=restore,
            shows=shows,
            shows_timeout=shows_timeout,
            before=lambda: (self.settle(), self.wait_quiet()),
            back=self.settle,
        )

    def target(self) -> Target:
        return load_target(self.target_name, project_root() / "targets.yaml")

    def _look(self) -> tuple[Observations, Diagnosis]:
        """One look as ``diagnose`` takes it (the target's own platform, opened and closed), judged."""
        target = self.target()
        access = open_platform(target)
        try:
            observations = look_for_triage(target, access.platform, platform_reason=access.reason)
        finally:
            access.close()
        return observations, decide(observations, since=DEFAULT_SINCE)

    def wait_quiet(self, timeout: float = 300, interval: float = 10) -> None:
        """Until triage calls the target healthy (nothing firing, nothing left over from an earlier
        fault), bounded: a fault is made on a quiet target only, so that its look shows that fault.
        These looks are not kept: no fault has been made yet."""
        wait("triage calls the target healthy (quiet) before the fault", self.healthy_now, timeout, interval)

    def healthy_now(self) -> bool:
        return self._look()[1].outcome is Outcome.HEALTHY

    def keep_look(self, name: str, description: str) -> Diagnosis:
        """One look as ``diagnose --record`` takes it, judged once and kept with the label written
        before it (a disagreement as a known miss); the verdict."""
        fault_label = self.labels[name]  # the label exists before the look, or there is no look
        observations, diagnosis = self._look()
        origin = {"class": self.origin_class, "by": f"{self.by}::{name}"}
        meta = scenario_block(name, description, origin, fault_label, diagnosis)
        path = record.save(
            observations, self.out / f"{name}.json", since_s=DEFAULT_SINCE.total_seconds(), scenario=meta
        )
        agrees = "" if "known_miss" not in meta else f"  MISS: {meta['known_miss']}"
        print(
            f"{path}: {diagnosis.outcome} {diagnosis.sections} "
            f"(label {fault_label['outcome']} {fault_label['sections']}){agrees}",
            flush=True,
        )
        return diagnosis
