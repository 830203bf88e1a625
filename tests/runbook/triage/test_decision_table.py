"""The decision table is data: docs/triage.md shows it as it is, and each row is reachable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from helpers.triage_fakes import FakeHttp, FakePlatform, api_pod, crashed, look, make_target, oom
from offgridflow_runbook.platforms import CommandResult, Event, NetworkStatus, RolloutStatus, Usage, Workload
from offgridflow_runbook.runbook import load_runbook
from offgridflow_runbook.runbook.evidence import Signal
from offgridflow_runbook.runbook.triage import DECISION_TABLE, NOT_COVERED, decide, decision_table_markdown

DOCS = Path(__file__).resolve().parents[3] / "docs" / "triage.md"


def test_docs_show_the_decision_table_exactly_as_the_code_has_it() -> None:
    assert decision_table_markdown() in DOCS.read_text(encoding="utf-8")


def test_every_signal_has_exactly_one_row() -> None:
    assert sorted(rule.signal for rule in DECISION_TABLE) == sorted(Signal)


@pytest.mark.parametrize(
    "rule", [r for r in DECISION_TABLE if r.section != NOT_COVERED], ids=lambda rule: str(rule.signal)
)
def test_each_row_names_a_runbook_section_with_commands(rule) -> None:
    # the sections and their commands are read from the runbook itself
    assert load_runbook().step(rule.section).commands


@pytest.mark.parametrize(
    "rule", [r for r in DECISION_TABLE if r.section == NOT_COVERED], ids=lambda rule: str(rule.signal)
)
def test_a_row_the_runbook_does_not_cover_names_no_section_of_it(rule) -> None:
    assert not any(step.id == rule.section for step in load_runbook().steps)


def test_the_fixes_come_in_the_runbooks_order_before_the_quick_fix() -> None:
    sections = [rule.section for rule in DECISION_TABLE]
    fixes = [section for section in sections if section.startswith("Fix")]
    assert fixes == sorted(fixes)
    assert max(sections.index(fix) for fix in fixes) < sections.index("Quick Fix")


def test_a_row_is_only_explained_by_rows_ranked_above_it() -> None:
    ranks = {rule.signal: rank for rank, rule in enumerate(DECISION_TABLE)}
    for rule in DECISION_TABLE:
        assert all(ranks[other] < ranks[rule.signal] for other in rule.explained_by), rule.signal


PG_DOWN = CommandResult(("pg_isready", "-h", "postgres-service", "-p", "5432"), 2, "no response")
REFUSED = httpx.ConnectError("[Errno 111] Connection refused")
DB_NOT_READY = [Workload("postgres-0", "postgres", "Running", False, 0, "postgres:15")]
STUCK = RolloutStatus(False, 2, 0, 2, 'Waiting for deployment "offgridflow-api" rollout to finish')
QUOTA_REFUSED = Event(
    datetime.now(UTC), "Warning", "FailedCreate",
    'Error creating: pods "offgridflow-api-c487484b5-6wbqt" is forbidden: exceeded quota: pods',
    "offgridflow-api-c487484b5",
)  # fmt: skip
CONFIG_LINE = '{"level": "error", "event": "invalid configuration", "key": "OFFGRIDFLOW_DB_POOL_MAX"}'
# One state per row that shows that row's signal and nothing a row above would claim.
ROW_STATES: dict[Signal, tuple[FakePlatform, FakeHttp]] = {
    Signal.NO_API_INSTANCE: (FakePlatform(api=[]), FakeHttp(live=REFUSED, ready=REFUSED)),
    Signal.DATABASE_PATH: (FakePlatform(pg_ready=PG_DOWN), FakeHttp()),
    Signal.DATABASE_DOWN: (FakePlatform(pg_ready=PG_DOWN, database=DB_NOT_READY), FakeHttp()),
    Signal.OOM_KILLED: (FakePlatform(api=[api_pod(**oom())]), FakeHttp()),
    Signal.NEAR_LIMIT: (
        FakePlatform(usage=[Usage("offgridflow-api-1", 500 * 2**20, 10.0, 512 * 2**20)]),
        FakeHttp(),
    ),
    Signal.CONFIG_ERROR: (
        FakePlatform(api=[api_pod(**crashed(78))], previous_logs={"offgridflow-api-1": CONFIG_LINE}),
        FakeHttp(live=REFUSED, ready=REFUSED),
    ),
    Signal.IMAGE_PULL: (
        FakePlatform(api=[api_pod(), api_pod("new", waiting_reason="ErrImagePull")]),
        FakeHttp(),
    ),
    Signal.CRASH_LOOP: (FakePlatform(api=[api_pod(**crashed(1))]), FakeHttp(live=REFUSED, ready=REFUSED)),
    Signal.NETWORK: (FakePlatform(net=NetworkStatus((), 1, 0)), FakeHttp()),
    Signal.API_NOT_ANSWERING: (FakePlatform(), FakeHttp(live=httpx.ReadTimeout("timed out"))),
    Signal.ROLLOUT_BLOCKED: (FakePlatform(rollout=STUCK, event_list=[QUOTA_REFUSED]), FakeHttp()),
    Signal.UNHEALTHY: (
        FakePlatform(),
        FakeHttp(ready=(503, {"status": "unhealthy", "reason": "warming up"})),
    ),
}


@pytest.mark.parametrize("rule", DECISION_TABLE, ids=lambda rule: str(rule.signal))
def test_each_row_alone_names_its_section_and_cause(rule, rules: Path) -> None:
    platform, http = ROW_STATES[rule.signal]
    diagnosis = decide(look(make_target(), http, platform, rules=rules))
    assert (diagnosis.sections, diagnosis.cause) == ([rule.section], rule.cause), diagnosis.summary
