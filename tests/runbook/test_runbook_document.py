"""The parser reads the project's runbook into steps, commands, budgets and alerts, and names the
line of anything it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.runbook_copies import RUNBOOK_TEXT, edited
from offgridflow_runbook.runbook import RunbookError, load_runbook, parse_runbook
from offgridflow_runbook.runbook.document import classify
from offgridflow_runbook.runbook.location import default_runbook


def test_the_steps_are_the_runbooks_triage_checks_fixes_and_verification_items() -> None:
    runbook = load_runbook()
    assert [step.id for step in runbook.steps] == [
        "Triage 1", "Triage 2A", "Triage 2B", "Triage 2C", "Triage 2D",
        "Quick Fix", "Fix 1", "Fix 2", "Fix 3", "Fix 4",
        *(f"Verification {n}" for n in range(1, 6)),
    ]  # fmt: skip
    assert runbook.step("Fix 2").title == "OOM (Out of Memory) Issues"


def test_every_command_points_at_the_line_where_it_starts() -> None:
    lines = RUNBOOK_TEXT.splitlines()
    commands = load_runbook().commands
    assert len(commands) == 33
    for command in commands:
        assert lines[command.line - 1].strip().startswith(command.argv[0]), command


def test_continuations_and_a_json_payload_over_many_lines_are_one_command() -> None:
    fix_2 = load_runbook().step("Fix 2").commands
    patch = next(c for c in fix_2 if c.argv[:2] == ("kubectl", "patch"))
    assert '"limits": {"memory": "2Gi"}' in patch.argv[-1]
    exec_line = load_runbook().step("Triage 2B").commands[0]
    assert exec_line.argv[-5:] == ("pg_isready", "-h", "postgres-service", "-p", "5432")


def test_budgets_sla_and_alerts_come_from_the_text() -> None:
    runbook = load_runbook()
    assert runbook.budgets_s == {"Triage 1": 120, "Triage 2": 300, "Quick Fix": 120, "Verification": 180}
    assert runbook.sla_s == 300
    assert (runbook.alert, runbook.alert_line) == ("OffGridFlowAPIDown", 3)
    assert list(runbook.related_alerts) == [
        "PostgreSQLDown",
        "PodCrashLooping",
        "OffGridFlowAPIHighErrorRate",
    ]


def test_an_edited_budget_or_sla_changes_the_model(tmp_path: Path) -> None:
    text = edited("Confirm the Issue (2 minutes)", "Confirm the Issue (4 minutes)")
    text = text.replace("SLA breach after 5 minutes", "SLA breach after 15 minutes")
    runbook = parse_runbook(text, tmp_path / "runbook.md")
    assert (runbook.budget("Triage 1"), runbook.sla_s) == (240, 900)


def test_verification_items_carry_their_expected_lines() -> None:
    runbook = load_runbook()
    assert runbook.step("Verification 2").commands[0].expected == ('{"status":"healthy"...}',)
    assert runbook.step("Verification 3").expected == ("200 OK with activity data",)
    # Verification 5 is done in Grafana: no command, its expectation still read
    assert runbook.step("Verification 5").commands == ()
    assert runbook.step("Verification 5").expected == ("Error rate < 1%",)


@pytest.mark.parametrize(
    ("line", "read_only"),
    [
        ("kubectl get pods -n offgridflow -l app=offgridflow-api", True),
        ("kubectl rollout status deployment/offgridflow-api -n offgridflow", True),
        ("kubectl rollout restart deployment/offgridflow-api -n offgridflow", False),
        ("kubectl rollout undo deployment/offgridflow-api -n offgridflow", False),
        ("kubectl exec -n offgridflow deployment/offgridflow-api -- pg_isready -h postgres-service", True),
        ("kubectl exec -n offgridflow deployment/offgridflow-api -- rm -rf /data", False),
        ("kubectl -n offgridflow delete pod x", False),
        ("curl http://api.offgridflow.com/health/ready", True),
        ("curl -X POST http://api.offgridflow.com/v1/activities", False),
        ("curl -d x=1 http://api.offgridflow.com/v1/activities", False),
        ("watch kubectl top pods -n offgridflow", True),
        ("kubectl get events -n offgridflow | grep OOMKilled", True),
        ("docker pull ghcr.io/your-org/offgridflow-api:latest", False),
        ("psql -c 'drop table activities'", False),
    ],
)
def test_commands_are_read_only_only_when_known_to_be(line: str, read_only: bool) -> None:
    pipeline = tuple(tuple(segment.split()) for segment in line.split("|"))
    assert classify(pipeline)[0] is read_only


UNREADABLE = [
    (
        "```bash\n# 1. Check pod health",
        "```bash\n# 1. Check pod health\n```\n```bash",
        r"runbook\.md:\d+: Verification needs exactly one bash block",
    ),
    (
        "--tail=50\n```",
        "--tail=50",
        r"runbook\.md:57: the code block opened here is never closed \(another opens at line 66\)",
    ),
    ('"Failed to pull image"', '"Failed to pull image', r"runbook\.md:165: the command never ends"),
    (
        "**Alert Name**: `OffGridFlowAPIDown`",
        "**Alert**: OffGridFlowAPIDown",
        r"runbook\.md:1: no '\*\*Alert Name\*\*",
    ),
    ("### 1. Confirm the Issue", "### Confirm the Issue", r"runbook\.md:22: a Triage step needs a number"),
    (
        "#### C. Resource Exhaustion",
        "#### Resource Exhaustion",
        r"runbook\.md:66: a Triage cause needs a letter",
    ),
    ("### Fix 3: Configuration Errors", "### Third fix", r"runbook\.md:145: a resolution step must be"),
    (
        "kubectl get ingress -n offgridflow",
        "kubectl get ingress -n offgridflow; rm x",
        r"runbook\.md:78: one command per line",
    ),
    ("## Verification (3 minutes)", "## Checks afterwards", r"runbook\.md:\d+: no '## Verification' section"),
]


@pytest.mark.parametrize(("old", "new", "message"), UNREADABLE)
def test_a_runbook_it_cannot_read_fails_with_the_line(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    with pytest.raises(RunbookError, match=message):
        parse_runbook(edited(old, new), tmp_path / "runbook.md")


def test_the_default_runbook_is_the_projects(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert load_runbook().path == default_runbook().resolve()
    copy = tmp_path / "other.md"
    copy.write_text(edited("(2 minutes)", "(3 minutes)"), encoding="utf-8")
    monkeypatch.setenv("OFFGRIDFLOW_RUNBOOK", str(copy))
    assert load_runbook().budget("Triage 1") == 180


def test_a_missing_runbook_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match=r"cannot read the runbook .*nope\.md: No such file or directory"):
        load_runbook(tmp_path / "nope.md")


def test_the_error_rate_limit_is_verification_5s_verify_line(tmp_path: Path) -> None:
    assert load_runbook().error_rate_limit == pytest.approx(0.01)
    stricter = parse_runbook(edited("Error rate < 1%", "Error rate < 0.5%"), tmp_path / "runbook.md")
    assert stricter.error_rate_limit == pytest.approx(0.005)


def test_a_verification_5_without_an_error_rate_is_named(tmp_path: Path) -> None:
    runbook = parse_runbook(edited("Error rate < 1%", "Error rate looks fine"), tmp_path / "runbook.md")
    with pytest.raises(RunbookError, match=r"runbook.md:\d+: Verification 5 states no 'Error rate < N%'"):
        _ = runbook.error_rate_limit
