"""Contradictions are evidence: a dependency seen fine is not the cause, and an API that answers is not
unreachable. Each case is the state the issue saw on the real kind cluster, fabricated here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from helpers.triage_fakes import FakeHttp, FakePlatform, look, make_target
from offgridflow_runbook.platforms import CommandResult, PlatformError, RolloutStatus, Workload
from offgridflow_runbook.runbook.triage import NOT_COVERED, Cause, Outcome, decide

PG = ("pg_isready", "-h", "postgres-service", "-p", "5432")
NO_RESPONSE = CommandResult(PG, 2, "postgres-service:5432 - no response")
REJECTING = CommandResult(PG, 1, "postgres-service:5432 - rejecting connections")
DB_DOWN_READY = (503, {"status": "unhealthy", "checks": {"database": "unavailable"}, "reason": "timeout"})
DB_LOG = '{"level": "warning", "event": "database unavailable, retrying", "reason": "timeout expired"}'
REFUSED = httpx.ConnectError("[Errno 111] Connection refused")


@dataclass
class RolloutPlatform(FakePlatform):
    """A FakePlatform whose Deployment says what the test sets (or cannot be read)."""

    rollout: RolloutStatus | Exception = field(
        default_factory=lambda: RolloutStatus(
            True, 1, 1, 1, 'deployment "offgridflow-api" successfully rolled out'
        )
    )

    def rollout_status(self) -> RolloutStatus:
        if isinstance(self.rollout, Exception):
            raise self.rollout
        return self.rollout


def judge(platform: FakePlatform, http: FakeHttp, rules: Path, kind: str = "kubernetes"):
    return decide(look(make_target(kind), http, platform, rules=rules))


def test_a_database_seen_ready_that_the_api_cannot_reach_is_not_fix_1(rules: Path) -> None:
    # Every database pod running and ready (listed among "seen fine"), pg_isready from the API pod gets
    # no response, the API says its database is unavailable: restarting the database would not help.
    platform = FakePlatform(pg_ready=NO_RESPONSE, logs={"offgridflow-api-1": DB_LOG})
    diagnosis = judge(platform, FakeHttp(ready=DB_DOWN_READY), rules)
    assert (diagnosis.outcome, diagnosis.cause, diagnosis.sections) == (
        Outcome.DIAGNOSED,
        Cause.DATABASE_PATH,
        [NOT_COVERED],
    )
    assert "Fix 1" not in diagnosis.sections
    assert diagnosis.exit_code == 2
    assert "the runbook has no section for this" in diagnosis.summary
    assert "every database pod is running and ready" in diagnosis.summary
    assert diagnosis.commands == []  # no Fix's commands for a cause no Fix covers
    # the API's own words back the candidate, as evidence of it rather than of Fix 1
    assert any("database" in line for line in diagnosis.evidence[1:])


def test_rejecting_connections_is_the_databases_own_answer_and_stays_fix_1(rules: Path) -> None:
    # exit 1: the server answered, so the path works and the database itself refuses (starting, stopping)
    diagnosis = judge(FakePlatform(pg_ready=REJECTING), FakeHttp(ready=DB_DOWN_READY), rules)
    assert diagnosis.sections == ["Fix 1"]


def test_no_response_with_the_database_pod_not_ready_stays_fix_1(rules: Path) -> None:
    database = [Workload("postgres-0", "postgres", "Running", False, 0, "postgres:15")]
    diagnosis = judge(FakePlatform(pg_ready=NO_RESPONSE, database=database), FakeHttp(), rules)
    assert diagnosis.sections == ["Fix 1"]


def test_on_docker_pg_isready_runs_in_the_database_container_so_no_response_stays_fix_1(rules: Path) -> None:
    diagnosis = judge(FakePlatform(pg_ready=NO_RESPONSE), FakeHttp(), rules, kind="docker")
    assert diagnosis.sections == ["Fix 1"]


def test_an_api_that_answers_is_never_unreachable_for_want_of_pods(rules: Path) -> None:
    # The API answered every request, yet no pod carried the label looked for.
    diagnosis = judge(FakePlatform(api=[]), FakeHttp(), rules)
    assert diagnosis.outcome is Outcome.INCONCLUSIVE
    assert diagnosis.exit_code == 4
    assert diagnosis.sections == []
    (pods,) = [r for r in diagnosis.unknowns if r.source == "API pods"]
    assert "yet the API answers (GET http://api.unit.test/health/live: HTTP 200)" in pods.detail
    assert "platform view" in pods.detail


def test_an_api_that_answers_unhealthy_is_still_an_instance(rules: Path) -> None:
    http = FakeHttp(live=(500, {"status": "error"}), ready=(503, {"status": "unhealthy"}))
    diagnosis = judge(FakePlatform(api=[]), http, rules)
    assert diagnosis.outcome is not Outcome.UNREACHABLE
    assert "API pods" in {r.source for r in diagnosis.unknowns}


@pytest.mark.parametrize(
    ("rollout", "why"),
    [
        (
            RolloutStatus(True, 0, 0, 0, "successfully rolled out"),
            "deployment/offgridflow-api is scaled to 0",
        ),
        (
            RolloutStatus(False, 2, 0, 0, "Waiting for rollout to finish"),
            "wants 2 replica(s), 0 available, but no pod matches the selector app=offgridflow-api",
        ),
        (
            PlatformError('deployments.apps "offgridflow-api" not found'),
            "deployment/offgridflow-api could not be read",
        ),
    ],
    ids=["scaled-to-0", "no-pod-matches", "no-deployment"],
)
def test_no_api_instance_says_why_none_exists(rollout: object, why: str, rules: Path) -> None:
    platform = RolloutPlatform(api=[], rollout=rollout)  # type: ignore[arg-type]
    diagnosis = judge(platform, FakeHttp(live=REFUSED, ready=REFUSED), rules)
    assert (diagnosis.outcome, diagnosis.sections) == (Outcome.UNREACHABLE, ["Triage 1"])
    assert why in diagnosis.summary
    # and that the runbook stops there: no Fix is named that would not bring an instance back
    assert diagnosis.summary.endswith("no Fix of the runbook covers this: Triage 1's commands look further")
