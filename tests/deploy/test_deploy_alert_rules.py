"""The alert rules: promtool-checked and -tested, named and annotated as the runbook expects."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers.deploy_files import (
    PROMETHEUS,
    RULE_TESTS_FILE,
    RULES_FILE,
    RUNBOOK,
    SYNTHETIC_RULE_TESTS_FILE,
    SYNTHETIC_RULES_FILE,
    load_yaml,
    require_tool,
)
from offgridflow_runbook.gameday.modes import Mode, load_modes
from offgridflow_runbook.monitor.metrics import METRICS, PREFIX
from offgridflow_runbook.probes.prometheus import RUNBOOK_ALERTS, alert_expression, strip_threshold

RUNBOOK_URL = (
    "https://github.com/offgridflow/offgridflow-runbook-suite/blob/main/docs/runbooks/offgridflow-api-down.md"
)
PRODUCTION_FOR = {
    "OffGridFlowAPIDown": "1m",
    "PostgreSQLDown": "1m",
    "PodCrashLooping": "5m",
    "OffGridFlowAPIHighErrorRate": "5m",
    "OffGridFlowAPIOOMKilled": None,  # fires at the first evaluation: the kill has happened
    "OffGridFlowAPIImagePullFailing": "1m",
    "OffGridFlowAPIRolloutStuck": "5m",
    "OffGridFlowAPINoEndpoints": "1m",
    "OffGridFlowPageUnresolved": "15m",
}
# Routing, not detection: it re-raises a page that is still firing for the runbook's secondary.
ESCALATION_ALERT = "OffGridFlowPageUnresolved"
ERROR_RATIO_RECORD = "job:http_requests:error_ratio_rate5m"


def promtool() -> str:
    return require_tool("promtool", "it checks and tests the alert rules (apt-get install prometheus)")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)


def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES_FILE)["groups"] for rule in group["rules"]]


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def runbook_alert_names() -> set[str]:
    """The alert the runbook is for and its "Related Alerts"."""
    text = RUNBOOK.read_text(encoding="utf-8")
    names = set(re.findall(r"\*\*Alert Name\*\*: `(\w+)`", text))
    related = text.split("## Related Alerts", 1)[1].split("\n## ", 1)[0]
    return names | set(re.findall(r"^- `(\w+)`", related, flags=re.MULTILINE))


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of `markdown`."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_the_rules_file_passes_promtool_check_rules() -> None:
    result = run(promtool(), "check", "rules", str(RULES_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rule_unit_tests_pass() -> None:
    result = run(promtool(), "test", "rules", str(RULE_TESTS_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rule_tests_are_named_as_sentences() -> None:
    names = [test["name"] for test in load_yaml(RULE_TESTS_FILE)["tests"]]
    assert len(names) == len(set(names)) >= 8
    for name in names:
        assert re.fullmatch(r"[A-Z][\w%.,' -]+ [\w%.,' -]+", name), name


# Each change must make `promtool test rules` fail: the tests sit on the `for` and threshold edges.
MUTATIONS: dict[str, tuple[str, str, str | tuple[str, str]]] = {
    "APIDown for one step longer": ("OffGridFlowAPIDown", "for", "1m15s"),
    "APIDown for one step shorter": ("OffGridFlowAPIDown", "for", "45s"),
    "PostgreSQLDown for one step longer": ("PostgreSQLDown", "for", "1m15s"),
    "CrashLooping for one step shorter": ("PodCrashLooping", "for", "4m45s"),
    "error-rate threshold just below 1%": ("OffGridFlowAPIHighErrorRate", "threshold", "0.0099"),
    "error-rate threshold at 1.1%": ("OffGridFlowAPIHighErrorRate", "threshold", "0.011"),
    "error-rate for one step longer": ("OffGridFlowAPIHighErrorRate", "for", "5m15s"),
    "OOM alert waits one step": ("OffGridFlowAPIOOMKilled", "for", "15s"),
    "image pull for one step longer": ("OffGridFlowAPIImagePullFailing", "for", "1m15s"),
    "rollout stuck for one step shorter": ("OffGridFlowAPIRolloutStuck", "for", "4m45s"),
    # the escalation's edge is one evaluation wide (it reads ALERTS of other groups): two steps off
    "escalation two steps later": ("OffGridFlowPageUnresolved", "for", "15m30s"),
    "escalation two steps earlier": ("OffGridFlowPageUnresolved", "for", "14m30s"),
    "crash-loop readiness window one step longer": ("PodCrashLooping", "expr", ("[1m]", "[2m]")),
    "OOM restart window one step shorter": ("OffGridFlowAPIOOMKilled", "expr", ("[10m]", "[9m]")),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_the_rule_tests_catch_a_changed_edge(mutation: str, tmp_path: Path) -> None:
    alert, field, value = MUTATIONS[mutation]
    document = load_yaml(RULES_FILE)
    for group in document["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") != alert:
                continue
            if field == "for":
                rule["for"] = value
            elif field == "expr":
                old, new = value
                assert old in rule["expr"]
                rule["expr"] = rule["expr"].replace(old, new)
            else:
                assert isinstance(value, str)
                rule["expr"] = re.sub(r"> 0\.01$", f"> {value}", rule["expr"])
                assert rule["expr"].endswith(value)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / RULES_FILE.name).write_text(yaml.safe_dump(document), encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / RULE_TESTS_FILE.name).write_text(RULE_TESTS_FILE.read_text(encoding="utf-8"))
    result = run(promtool(), "test", "rules", str(tmp_path / "tests" / RULE_TESTS_FILE.name))
    assert result.returncode != 0, f"promtool tests still pass with {mutation}"
    assert alert in result.stdout + result.stderr


def test_every_alert_the_runbook_names_is_defined() -> None:
    assert runbook_alert_names() <= set(alerts())


def test_every_paging_alert_is_one_the_checks_treat_as_a_runbook_alert() -> None:
    """Verification 5 ("no runbook alert firing") and the game day watch exactly these alerts."""
    assert set(alerts()) - {ESCALATION_ALERT} == set(RUNBOOK_ALERTS)


def test_the_alerts_use_production_for_durations() -> None:
    assert {name: rule.get("for") for name, rule in alerts().items()} == PRODUCTION_FOR


@pytest.mark.parametrize("mode", load_modes(), ids=lambda mode: mode.name)
def test_every_alert_a_failure_mode_must_page_on_is_a_rule_with_its_production_for(mode: Mode) -> None:
    named = {
        alert
        for by_platform in (mode.must_fire, mode.must_not_fire)
        for a in by_platform.values()
        for alert in a
    }
    assert named | set(mode.silent_is_finding) <= set(PRODUCTION_FOR)
    assert set(PRODUCTION_FOR) == set(alerts())


@pytest.mark.parametrize("alert", sorted(PRODUCTION_FOR))
def test_every_alert_has_severity_summary_description_and_a_runbook_url_that_resolves(alert: str) -> None:
    rule = alerts()[alert]
    assert rule["labels"]["severity"] in {"critical", "warning"}
    assert rule["annotations"]["summary"]
    assert rule["annotations"]["description"]
    url = rule["annotations"]["runbook_url"]
    page, _, anchor = url.partition("#")
    assert page == RUNBOOK_URL
    assert RUNBOOK.exists()
    if anchor:
        assert anchor in github_anchors(RUNBOOK.read_text(encoding="utf-8")), anchor


def test_the_api_down_alert_covers_every_target_down_and_every_target_vanished() -> None:
    expression = alerts()["OffGridFlowAPIDown"]["expr"]
    assert 'sum by (job) (up{job="offgridflow-api"}) == 0' in expression
    assert 'absent(up{job="offgridflow-api"})' in expression
    assert alerts()["OffGridFlowAPIDown"]["labels"]["severity"] == "critical"


def test_the_error_rate_alert_is_its_recording_rule_above_one_percent() -> None:
    recorded = next(rule["expr"] for rule in rules() if rule.get("record") == ERROR_RATIO_RECORD)
    expression = alerts()["OffGridFlowAPIHighErrorRate"]["expr"]
    assert isinstance(expression, str)
    assert expression == f"({recorded}) > 0.01"
    # The checks evaluate exactly this (offgridflow_runbook.probes.prometheus).
    assert alert_expression() == expression
    assert strip_threshold(expression) == (recorded, 0.01)


def test_the_local_prometheus_config_is_valid_and_scrapes_on_loopback() -> None:
    config_file = PROMETHEUS / "prometheus.yml"
    result = run(promtool(), "check", "config", str(config_file))
    assert result.returncode == 0, result.stdout + result.stderr
    targets = {
        job["job_name"]: target
        for job in load_yaml(config_file)["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert targets["offgridflow-api"] == "127.0.0.1:8081"
    assert targets["postgres"] == "127.0.0.1:9187"
    assert all(target.startswith("127.0.0.1:") for target in targets.values())


def test_the_alertmanager_config_is_valid() -> None:
    amtool = require_tool(
        "amtool", "it checks the Alertmanager configuration (apt-get install prometheus-alertmanager)"
    )
    result = run(amtool, "check-config", str(PROMETHEUS / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=OffGridFlowAPIDown"], "primary-oncall"),
        (["severity=critical", "alertname=OffGridFlowAPIOOMKilled"], "primary-oncall"),
        (["severity=warning", "alertname=OffGridFlowAPIImagePullFailing"], "platform-channel"),
        (["severity=warning", "alertname=OffGridFlowAPIHighErrorRate"], "platform-channel"),
        (
            ["severity=critical", "escalate=secondary", "alertname=OffGridFlowPageUnresolved"],
            "secondary-backend",
        ),
        (["severity=info"], "blackhole"),
    ],
)
def test_alertmanager_routes_as_the_runbooks_escalation_says(labels: list[str], receiver: str) -> None:
    amtool = require_tool("amtool", "it tests Alertmanager routes (apt-get install prometheus-alertmanager)")
    config_file = PROMETHEUS / "alertmanager.yml"
    result = run(amtool, "config", "routes", "test", f"--config.file={config_file}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receiver


def test_every_alert_reaches_a_receiver_other_than_the_blackhole() -> None:
    amtool = require_tool("amtool", "it tests Alertmanager routes (apt-get install prometheus-alertmanager)")
    config_file = PROMETHEUS / "alertmanager.yml"
    for name, rule in alerts().items():
        labels = [f"alertname={name}", *(f"{key}={value}" for key, value in rule["labels"].items())]
        result = run(amtool, "config", "routes", "test", f"--config.file={config_file}", *labels)
        assert result.stdout.strip() not in ("", "blackhole"), name


def test_every_receiver_posts_to_the_local_webhook_receiver_quickly() -> None:
    config = load_yaml(PROMETHEUS / "alertmanager.yml")
    for receiver in config["receivers"]:
        if receiver["name"] != "blackhole":
            assert [hook["url"] for hook in receiver["webhook_configs"]] == ["http://127.0.0.1:9095/alerts"]
    assert config["route"]["group_wait"] in {"5s", "10s"}


def test_outside_services_read_their_keys_from_secret_files() -> None:
    """No key or URL is written into the repository: PagerDuty and Slack take theirs from files."""
    config = load_yaml(PROMETHEUS / "alertmanager.yml")
    for receiver in config["receivers"]:
        for integration in receiver.get("pagerduty_configs", []):
            assert set(integration) & {"routing_key", "service_key"} == set()
            assert integration["routing_key_file"].startswith("/etc/alertmanager-secrets/")
        for integration in receiver.get("slack_configs", []):
            assert "api_url" not in integration
            assert integration["api_url_file"].startswith("/etc/alertmanager-secrets/")


def test_the_api_down_alert_still_inhibits_the_error_rate_alert() -> None:
    config = load_yaml(PROMETHEUS / "alertmanager.yml")
    assert {
        "source_matchers": ['alertname="OffGridFlowAPIDown"'],
        "target_matchers": ['alertname="OffGridFlowAPIHighErrorRate"'],
        "equal": ["job"],
    } in config["inhibit_rules"]


# -- the synthetic monitor's page (deploy/prometheus/rules/offgridflow-synthetic.rules.yml) -------------
SYNTHETIC_ALERT = "OffGridFlowSyntheticCheckFailing"


def synthetic_alert() -> dict[str, Any]:
    (group,) = load_yaml(SYNTHETIC_RULES_FILE)["groups"]
    (rule,) = group["rules"]
    assert rule["alert"] == SYNTHETIC_ALERT
    return dict(rule)


def test_the_synthetic_rules_pass_promtool_check_and_their_tests() -> None:
    for argv in (("check", "rules", SYNTHETIC_RULES_FILE), ("test", "rules", SYNTHETIC_RULE_TESTS_FILE)):
        result = run(promtool(), *map(str, argv))
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("for_", ["1m45s", "2m15s"])
def test_the_synthetic_rule_tests_catch_a_for_one_step_off(for_: str, tmp_path: Path) -> None:
    document = load_yaml(SYNTHETIC_RULES_FILE)
    document["groups"][0]["rules"][0]["for"] = for_
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / SYNTHETIC_RULES_FILE.name).write_text(yaml.safe_dump(document), encoding="utf-8")
    (tmp_path / "tests").mkdir()
    tests = tmp_path / "tests" / SYNTHETIC_RULE_TESTS_FILE.name
    tests.write_text(SYNTHETIC_RULE_TESTS_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    result = run(promtool(), "test", "rules", str(tests))
    assert result.returncode != 0, f"promtool tests still pass with for: {for_}"


def test_the_synthetic_page_reads_the_monitors_metric_and_pages_the_primary() -> None:
    rule = synthetic_alert()
    assert rule["expr"] == f"{PREFIX}run_success == 0"
    assert "run_success" in METRICS
    assert rule["for"] == "2m"
    assert rule["labels"] == {"severity": "critical", "team": "platform"}
    page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
    assert page == RUNBOOK_URL
    assert anchor in github_anchors(RUNBOOK.read_text(encoding="utf-8"))
    assert rule["annotations"]["summary"]
    assert rule["annotations"]["description"]
    amtool = require_tool("amtool", "it tests Alertmanager routes (apt-get install prometheus-alertmanager)")
    labels = [f"alertname={SYNTHETIC_ALERT}", *(f"{key}={value}" for key, value in rule["labels"].items())]
    config_file = PROMETHEUS / "alertmanager.yml"
    result = run(amtool, "config", "routes", "test", f"--config.file={config_file}", *labels)
    assert result.stdout.strip() == "primary-oncall", result.stderr


def test_the_synthetic_page_is_not_one_verification_5_watches() -> None:
    """Else the monitor's own page would fail its Verification 5 and never resolve."""
    assert SYNTHETIC_ALERT not in RUNBOOK_ALERTS
    assert SYNTHETIC_ALERT not in alerts()


def test_the_kind_monitoring_loads_the_synthetic_rules() -> None:
    generated = load_yaml(PROMETHEUS / "kustomization.yaml")["configMapGenerator"]
    rules = next(item for item in generated if item["name"] == "prometheus-rules")
    assert sorted(rules["files"]) == sorted(
        f"rules/{path.name}" for path in (PROMETHEUS / "rules").glob("*.yml")
    )
