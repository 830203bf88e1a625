"""The game day as a whole: run experiments one after another, score each, keep the reports current.

Used by ``chaos/test_gameday.py`` (``pytest chaos --target local``); nothing here knows whether the
target is Docker or Kubernetes - the experiments reach it through the platform drivers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from offgridflow_runbook.gameday.alerts import (
    AlertTimeline,
    AlertTiming,
    alert_history,
    alert_timing,
    wait_for_quiet,
)
from offgridflow_runbook.gameday.availability import AvailabilityProbe
from offgridflow_runbook.gameday.error_budget import budget_burned, experiment_error_budget
from offgridflow_runbook.gameday.events import EventKind
from offgridflow_runbook.gameday.modes import mode_from_experiment
from offgridflow_runbook.gameday.pages import read_pages
from offgridflow_runbook.gameday.proposals import write_proposals
from offgridflow_runbook.gameday.report import RunbookCoverage, write_reports
from offgridflow_runbook.gameday.runner import RunningExperiment, start_experiment
from offgridflow_runbook.gameday.scorecard import (
    ExperimentScore,
    Scorecard,
    expectation_from_experiment,
    score_experiment,
)
from offgridflow_runbook.ledger import Ledger
from offgridflow_runbook.probes.http import ProbeError
from offgridflow_runbook.proofs import Proof, record_proof, steps_proven_by
from offgridflow_runbook.restore import verify_within
from offgridflow_runbook.runbook import load_runbook
from offgridflow_runbook.targets import Target

__all__ = ["EXPERIMENT_TIMEOUT_S", "GameDay", "experiment_timeout_s"]

EXPERIMENT_TIMEOUT_S = 600.0
# How long the scorer waits for Verification 1-5 before clearing a run's fault ledger entries (the
# run's own last activity already waited for it; this is the scorer's own look, not a second wait)
CLEAR_VERIFY_DEADLINE_S = 60.0


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}s"


def experiment_timeout_s(experiment: dict[str, Any]) -> float:
    """How long one experiment may run: its extension's ``timeout_s``, else 10 minutes. An experiment
    whose fault builds up over minutes (db-crash-loop) or that runs a set-up and a clean-up rollout
    (bad-config-in-place) says so in its file."""
    try:
        timeout = mode_from_experiment(experiment).timeout_s
    except ValueError:  # no extension: the scorer names that once the run is over
        timeout = None
    return timeout if timeout is not None else EXPERIMENT_TIMEOUT_S


class GameDay:
    """Runs ``<experiments_dir>/<mode>.json`` against ``target`` and writes ``reports_dir``."""

    def __init__(
        self,
        target: Target,
        *,
        experiments_dir: Path,
        reports_dir: Path,
        say: Callable[[str], None] = print,
        coverage: Callable[[], RunbookCoverage] | None = None,
    ) -> None:
        self.target = target
        self.coverage = coverage  # the runbook's coverage for the reports (offgridflow_runbook.coverage)
        self.experiments_dir = experiments_dir
        self.reports_dir = reports_dir
        self.runs_dir = reports_dir / "runs"
        self.say = say
        self.timing = self._timing()
        self.scorecard = Scorecard(
            target=target.name,
            platform=target.platform,
            profile=self.timing.profile if self.timing else "unknown (Prometheus not readable)",
            started_at=time.time(),
        )
        self.outages: dict[str, list[tuple[float, float]]] = {}

    def _timing(self) -> AlertTiming | None:
        if not self.target.prometheus_url:
            return None
        try:
            return alert_timing(self.target.prometheus_url)
        except ProbeError as error:
            self.say(f"[gameday] cannot read the alert timing from Prometheus: {error}")
            return None

    def start(self, mode: str, *, gameday_dir: Path | None = None) -> RunningExperiment:
        """Start one experiment (for tests that interrupt it)."""
        return start_experiment(
            self.experiments_dir / f"{mode}.json",
            target=self.target,  # resolved once, overrides applied: the child checks its fingerprint
            gameday_dir=gameday_dir or self.runs_dir,
        )

    def run(self, mode: str) -> ExperimentScore:
        """Run one experiment to its end, score it, and rewrite the reports."""
        self.say(f"[gameday] {mode:<10} start     target {self.target.name} ({self.target.platform})")
        if self.target.prometheus_url and (noisy := wait_for_quiet(self.target.prometheus_url, say=self.say)):
            # scored all the same: an alert active before the fault is reported as such, never as its page
            self.say(f"[gameday] {mode:<10} not quiet before the fault: {', '.join(noisy)}")
        with AvailabilityProbe(self.target) as availability:
            running = self.start(mode)
            running.wait(experiment_timeout_s(running.experiment_document), self.say)
            outages = availability.stop()
        events = running.events.read()
        alerts = self._alerts(running.started - 2.0)
        pages = read_pages(self.target.alert_receiver_url, since=running.started - 2.0)
        self.outages[mode] = [(o.started, o.ended) for o in outages]
        # the synthetic client's view starts at the fault (the stack may have rolled out before it)
        fault = next((e.at for e in events if e.kind == EventKind.FAULT_AT), None)
        seen = sum(o.ended - max(o.started, fault) for o in outages if fault is not None and o.ended > fault)
        score = score_experiment(
            expectation_from_experiment(running.experiment_document, self.target.platform),
            events,
            journal=running.journal(),
            alerts=alerts,
            timing=self.timing,
            outage_s=seen if fault is not None else None,
            pages=pages,
        )
        score.error_budget = experiment_error_budget(
            self.target.prometheus_url, score.fault_at, score.verified_at, events[-1].at if events else None
        )
        self.scorecard.experiments = [e for e in self.scorecard.experiments if e.mode != mode] + [score]
        self.write()
        if score.status == "passed":
            self._prove(mode, running.experiment_document)
        self.settle_ledger(running)
        if score.page:
            paged = f"paged by {score.page['alert']}"
        elif score.self_healed_at is not None:
            paged = "no page: healed by itself"
        else:
            paged = f"no page ({score.pages_unknown or 'none'})"
        self.say(
            f"[gameday] {mode:<10} {score.status:<9} MTTD {_seconds(score.mttd_s)} ({paged})"
            f"  MTTR {_seconds(score.mttr_s)}  outage {_seconds(score.outage_s)}"
            f"  API-side error budget {budget_burned(score.error_budget.as_dict())}"
            f"  ({running.events.path.parent})"
        )
        if score.failures:
            self.say(f"[gameday] {mode:<10} failures: {'; '.join(f[:200] for f in score.failures)}")
        return score

    def _prove(self, mode: str, experiment: dict[str, Any]) -> None:
        """A passing run is a proof, with its date, of the steps it exercised (offgridflow_runbook.proofs)."""
        section = expectation_from_experiment(experiment, self.target.platform).fix
        steps = steps_proven_by(load_runbook(), section)
        record_proof(Proof(time.time(), self.target.name, self.target.platform, "automatic", mode, steps))

    def settle_ledger(self, running: RunningExperiment) -> None:
        """Clear the fault ledger entries of this run once its journal shows every rollback succeeded
        and Verification 1-5 pass in the scorer's own look; otherwise leave them open, say so, and
        ``offgridflow-runbook restore`` (or the next game day's ``--restore-first``) takes over."""
        ledger = Ledger()
        events = str(running.events.path.resolve())
        mine = [entry for entry in ledger.entries(self.target.name) if entry.events == events]
        if not mine:
            return
        journal = running.journal()
        rollbacks = (journal or {}).get("rollbacks") or []
        why = ""
        if journal is None:
            why = "the run wrote no journal"
        elif not all(isinstance(run, dict) and run.get("status") == "succeeded" for run in rollbacks):
            why = "a rollback did not succeed"
        else:
            report = verify_within(self.target, None, CLEAR_VERIFY_DEADLINE_S)
            if not report.passed:
                why = "Verification 1-5 does not pass: " + "; ".join(s.step for s in report.failures)
        if why:
            for line in ledger.open_lines(self.target.name):
                self.say(f"[gameday] {running.mode:<10} left open ({why}): {line}")
            return
        for entry in mine:
            ledger.clear(entry, by="game day", note="rollbacks succeeded; Verification 1-5 passed")

    def _alerts(self, start: float) -> list[AlertTimeline]:
        if not self.target.prometheus_url:
            return []
        step = self.timing.evaluation_interval_s if self.timing else 1.0
        try:
            return alert_history(self.target.prometheus_url, start, time.time(), step=step)
        except ProbeError as error:
            self.say(f"[gameday] cannot read the alert history: {error}")
            return []

    def write(self) -> dict[str, Path]:
        self.scorecard.finished_at = time.time()
        written = write_reports(self.scorecard, self.reports_dir, self.outages, self.coverage)
        return written | write_proposals(self.scorecard, self.reports_dir)
