"""Verification and Triage steps on fabricated observations: pass, fail and skip with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.triage_fakes import FakeHttp, FakePlatform, api_pod, crashed, look, make_target, oom
from offgridflow_runbook.platforms import Usage
from offgridflow_runbook.probes.prometheus import alert_expression, strip_threshold
from offgridflow_runbook.runbook import steps
from offgridflow_runbook.runbook.steps import Outcome


def test_everything_passes_on_a_healthy_target(rules: Path) -> None:
    observations = look(make_target(), FakeHttp(), FakePlatform(), rules=rules)
    results = [
        check(observations)
        for check in (
            steps.triage_1_live,
            steps.triage_1_pods,
            steps.triage_2a_crash_loop,
            steps.triage_2b_database,
            steps.triage_2c_resources,
            steps.triage_2d_network,
            steps.verification_1_pods,
            steps.verification_2_ready,
            steps.verification_3_activities,
            steps.verification_4_metrics,
            steps.verification_5_error_rate,
            steps.verification_5_alerts,
        )
    ]
    assert [(r.step, r.outcome) for r in results if r.outcome is not Outcome.PASSED] == []


def test_platform_steps_are_skipped_with_the_reason_without_platform(rules: Path) -> None:
    observations = look(make_target("none"), FakeHttp(), None, rules=rules)
    for check in (
        steps.triage_1_pods,
        steps.triage_2a_crash_loop,
        steps.triage_2b_database,
        steps.verification_1_pods,
    ):
        result = check(observations)
        assert (result.outcome, result.message) == (Outcome.SKIPPED, "no platform access (platform: none)")


def test_restarts_fail_verification_1_and_2a_with_the_termination_reason(rules: Path) -> None:
    observations = look(
        make_target(), FakeHttp(), FakePlatform(api=[api_pod(**oom(restarts=2))]), rules=rules
    )
    crash = steps.triage_2a_crash_loop(observations)
    assert crash.failed
    assert "offgridflow-api-1: 2 restart(s), last termination OOMKilled, exit code 137" in crash.message
    assert steps.verification_1_pods(observations).failed


def test_crash_loop_message_names_error_and_exit_code(rules: Path) -> None:
    observations = look(
        make_target(), FakeHttp(), FakePlatform(api=[api_pod(**crashed(exit_code=78))]), rules=rules
    )
    assert "last termination Error, exit code 78" in steps.triage_2a_crash_loop(observations).message


def test_missing_memory_limit_fails_2c(rules: Path) -> None:
    platform = FakePlatform(
        api=[api_pod(memory_limit_bytes=None)], usage=[Usage("offgridflow-api-1", 1, 1.0, None)]
    )
    result = steps.triage_2c_resources(look(make_target(), FakeHttp(), platform, rules=rules))
    assert (result.outcome, result.message) == (Outcome.FAILED, "offgridflow-api-1: no memory limit")


def test_ready_unhealthy_fails_verification_2_with_the_body(rules: Path) -> None:
    http = FakeHttp(ready=(503, {"status": "unhealthy", "checks": {"database": "unavailable"}}))
    result = steps.verification_2_ready(look(make_target("none"), http, None, rules=rules))
    assert result.failed
    assert "answered HTTP 503" in result.message
    assert "unavailable" in result.message


def test_wrong_token_fails_verification_3_as_unauthorized(
    rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIT_TEST_TOKEN", "a-wrong-token-value")
    result = steps.verification_3_activities(look(make_target("none"), FakeHttp(), None, rules=rules))
    assert result.failed
    assert result.message == (
        "target 'unit': unauthorized (HTTP 401), check the bearer token: http://api.unit.test/v1/activities?limit=1"
    )
    assert "a-wrong-token-value" not in result.message


def test_missing_token_skips_verification_3_with_the_variable_name(
    rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNIT_TEST_TOKEN")
    result = steps.verification_3_activities(look(make_target("none"), FakeHttp(), None, rules=rules))
    assert (result.outcome, result.message) == (
        Outcome.SKIPPED,
        "no bearer token: $UNIT_TEST_TOKEN is not set",
    )


def test_activities_body_without_a_list_fails(rules: Path) -> None:
    http = FakeHttp(activities=(200, {"count": 0}))
    assert steps.verification_3_activities(look(make_target("none"), http, None, rules=rules)).failed


def test_metrics_without_http_requests_total_fail(rules: Path) -> None:
    http = FakeHttp(metrics="# HELP http_requests_total_other x\nprocess_cpu_seconds_total 1.0\n")
    assert steps.verification_4_metrics(look(make_target("none"), http, None, rules=rules)).failed


def test_error_rate_above_the_alert_limit_fails_verification_5(rules: Path) -> None:
    http = FakeHttp(error_series=[0.05], ratio=0.05)
    result = steps.verification_5_error_rate(look(make_target("none"), http, None, rules=rules))
    assert (result.outcome, result.message) == (Outcome.FAILED, "error rate 5.00% is above the alert limit")


def test_error_rate_uses_the_rule_expression(rules: Path) -> None:
    http = FakeHttp(ratio=0.004)
    result = steps.verification_5_error_rate(look(make_target("none"), http, None, rules=rules))
    assert (result.outcome, result.message) == (Outcome.PASSED, "error rate 0.40%")
    queries = [r.url.params.get("query") for r in http.requests if r.url.path == "/api/v1/query"]
    assert any(q and q.endswith("> 0.01") for q in queries)


def test_error_rate_uses_the_alert_as_the_targets_prometheus_evaluates_it(rules: Path) -> None:
    """A fast profile's Prometheus runs the alert with a shorter window: Verification 5 judges that
    window (the alert that pages), not the repository file's five minutes."""
    loaded = 'sum(rate(x_total{status=~"5.."}[15s])) / sum(rate(x_total[15s])) > 0.01'
    http = FakeHttp(
        ratio=0.0, loaded_rules=[{"type": "alerting", "name": "OffGridFlowAPIHighErrorRate", "query": loaded}]
    )
    result = steps.verification_5_error_rate(look(make_target("none"), http, None, rules=rules))
    assert result.evidence == (f"expression: {loaded}",)
    queries = [r.url.params.get("query") for r in http.requests if r.url.path == "/api/v1/query"]
    assert loaded in queries
    assert not any("[5m]" in (q or "") for q in queries)


def test_missing_rules_file_fails_rather_than_passing(tmp_path: Path) -> None:
    result = steps.verification_5_error_rate(
        look(make_target("none"), FakeHttp(), None, rules=tmp_path / "absent.yml")
    )
    assert result.failed
    assert "absent.yml not found" in result.message


def test_firing_runbook_alert_fails_and_pending_does_not(rules: Path) -> None:
    alerts = [
        {"labels": {"alertname": "PostgreSQLDown"}, "state": "firing", "activeAt": "2026-01-01T00:00:00Z"},
        {
            "labels": {"alertname": "OffGridFlowAPIDown"},
            "state": "pending",
            "activeAt": "2026-01-01T00:00:00Z",
        },
        {"labels": {"alertname": "SomebodyElses"}, "state": "firing"},
    ]
    result = steps.verification_5_alerts(
        look(make_target("none"), FakeHttp(alerts=alerts), None, rules=rules)
    )
    assert (result.outcome, result.message) == (Outcome.FAILED, "firing: PostgreSQLDown")


def test_without_prometheus_verification_5_is_skipped(rules: Path) -> None:
    observations = look(make_target("none", prometheus_url=None), FakeHttp(), None, rules=rules)
    for check in (steps.verification_5_error_rate, steps.verification_5_alerts):
        assert check(observations).outcome is Outcome.SKIPPED


@pytest.mark.parametrize(
    ("expression", "ratio"),
    [
        ("(sum(rate(a[5m])) / sum(rate(b[5m]))) > 0.01", "sum(rate(a[5m])) / sum(rate(b[5m]))"),
        ("(a) / (b) > 0.01", "(a) / (b)"),
        ("a / b > 0.01", "a / b"),
        ("((a / b)) >= 1e-2", "a / b"),
    ],
)
def test_threshold_is_split_off_with_balanced_parentheses(expression: str, ratio: str) -> None:
    split = strip_threshold(expression)
    assert split is not None
    assert split[0] == ratio
    assert split[1] == pytest.approx(0.01)


def test_the_rule_files_error_rate_alert_splits_into_a_ratio() -> None:
    try:
        expression = alert_expression()
    except LookupError as error:
        pytest.skip(str(error))
    split = strip_threshold(expression)
    assert split is not None, expression
    assert split[1] == pytest.approx(0.01)
