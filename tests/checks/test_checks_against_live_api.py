"""`pytest checks` and `offgridflow-runbook diagnose` against the real API and a real PostgreSQL.

The target has platform `none` (HTTP only) because these services run as plain processes: the
platform checks must then be skipped with that reason, and the HTTP checks must pass, or fail with
the expected one-line message when the API is stopped, the database is stopped or the token is wrong.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import diagnose_cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "checks"
HTTP_CHECKS = {
    "test_triage.py::test_api_answers_health_live",
    "test_verification.py::test_health_ready_is_healthy",
    "test_verification.py::test_activities_answer_with_the_token",
    "test_verification.py::test_activity_write_path",
    "test_verification.py::test_metrics_expose_http_requests_total",
}
NO_PLATFORM = "target 'live' has no platform access (platform: none)"
NO_PROMETHEUS = "target 'live' has no prometheus_url"
NO_PAGER = "target 'live' declares no alertmanager_url; target 'live' declares no alert_receiver_url"


def write_targets(directory: Path, api: Any) -> Path:
    path = directory / "targets.yaml"
    path.write_text(
        "targets:\n"
        "  live:\n"
        "    platform: none\n"
        f"    base_url: {api.base_url}\n"
        f"    metrics_url: {api.metrics_url}\n"
        "    token_env: LIVE_TEST_TOKEN\n"
        "    allow_writes: true\n"
    )
    return path


def run_checks(
    workdir: Path, targets: Path, token: str | None
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    env = {**os.environ, "LIVE_TEST_TOKEN": token} if token is not None else dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    if token is None:
        env.pop("LIVE_TEST_TOKEN", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(CHECKS), "--target", "live", "--targets-file", str(targets)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = (workdir / "reports/checks/results.jsonl").read_text().splitlines()
    return result, {record["check"]: record for record in map(json.loads, lines)}


def run_diagnose(targets: Path, token: str) -> tuple[int, dict[str, Any], str]:
    return diagnose_cli.run_diagnose("live", targets, {"LIVE_TEST_TOKEN": token})


def outcomes(records: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {check: record["outcome"] for check, record in records.items()}


def artifacts_text(workdir: Path, output: str) -> str:
    """Every artifact of a check run, with the report's base64 attachments decoded."""
    texts = [output]
    for path in (workdir / "reports/checks").iterdir():
        text = path.read_text(errors="replace")
        texts.append(text)
        for blob in re.findall(r"base64,([A-Za-z0-9+/=]+)", text):
            texts.append(base64.b64decode(blob).decode(errors="replace"))
    return "\n".join(texts)


def test_healthy_api_passes_every_http_check_and_skips_the_rest_with_reasons(
    api_server: Any, tmp_path: Path
) -> None:
    result, records = run_checks(tmp_path, write_targets(tmp_path, api_server), api_server.token)
    assert result.returncode == 0, result.stdout
    assert {check for check, outcome in outcomes(records).items() if outcome == "passed"} == HTTP_CHECKS
    skipped = {record["message"] for record in records.values() if record["outcome"] == "skipped"}
    assert skipped == {NO_PLATFORM, NO_PROMETHEUS, NO_PAGER}
    assert {record["step"] for record in records.values()} == {
        "Triage 1",
        "Triage 2A",
        "Triage 2B",
        "Triage 2C",
        "Triage 2D",
        "Verification 1",
        "Verification 2",
        "Verification 3",
        "Verification 4",
        "Verification 5",
        None,  # checks/test_paging.py: the pager's path is no runbook step
    }
    for name in ("report.html", "junit.xml", "results.jsonl"):
        assert (tmp_path / "reports/checks" / name).stat().st_size > 0
    assert api_server.token not in artifacts_text(tmp_path, result.stdout + result.stderr)


def test_healthy_api_is_diagnosed_healthy(api_server: Any, tmp_path: Path) -> None:
    code, diagnosis, _ = run_diagnose(write_targets(tmp_path, api_server), api_server.token)
    assert (code, diagnosis["cause"], diagnosis["section"]) == (0, "healthy", "none")


def test_the_check_command_passes_its_target_overrides_on_to_the_checks(
    api_server: Any, tmp_path: Path
) -> None:
    # the profile's base_url answers nothing: only the override on the command line reaches the API
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        write_targets(tmp_path, api_server).read_text().replace(api_server.base_url, "http://127.0.0.1:9")
    )
    env = {**os.environ, "LIVE_TEST_TOKEN": api_server.token}
    env.pop("PYTEST_ADDOPTS", None)
    command = [
        str(Path(sys.executable).with_name("offgridflow-runbook")), "check", "--checks-dir", str(CHECKS),
        "--target", "live", "--targets-file", str(targets), "--base-url", api_server.base_url, "--", "-q",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert (tmp_path / "reports/checks/results.jsonl").is_file(), result.stdout + result.stderr
    lines = (tmp_path / "reports/checks/results.jsonl").read_text().splitlines()
    records = {record["check"]: record for record in map(json.loads, lines)}
    assert result.returncode == 0, result.stdout[-2000:]
    assert {check for check, outcome in outcomes(records).items() if outcome == "passed"} == HTTP_CHECKS


def test_wrong_token_fails_exactly_the_token_checks_as_unauthorized(api_server: Any, tmp_path: Path) -> None:
    wrong = "wrong-token-" + "x" * 20
    result, records = run_checks(tmp_path, write_targets(tmp_path, api_server), wrong)
    assert result.returncode == 1
    failed = {check: r["message"] for check, r in records.items() if r["outcome"] == "failed"}
    assert set(failed) == {
        "test_verification.py::test_activities_answer_with_the_token",
        "test_verification.py::test_activity_write_path",
    }
    assert failed["test_verification.py::test_activities_answer_with_the_token"] == (
        f"Verification 3: target 'live': unauthorized (HTTP 401), check the bearer token: "
        f"{api_server.base_url}/v1/activities?limit=1"
    )
    everything = artifacts_text(tmp_path, result.stdout + result.stderr)
    assert wrong not in everything
    assert "Traceback" not in result.stdout


def test_without_a_token_the_token_checks_are_skipped_with_the_reason(
    api_server: Any, tmp_path: Path
) -> None:
    result, records = run_checks(tmp_path, write_targets(tmp_path, api_server), None)
    token_checks = {
        "test_verification.py::test_activities_answer_with_the_token",
        "test_verification.py::test_activity_write_path",
    }
    assert {check: records[check]["outcome"] for check in token_checks} == dict.fromkeys(
        token_checks, "skipped"
    )
    assert all("no bearer token: $LIVE_TEST_TOKEN is not set" in records[c]["message"] for c in token_checks)
    assert result.returncode == 0, result.stdout[-2000:]


def test_stopped_api_fails_every_http_check_as_unreachable_and_diagnoses_exit_3(
    api_factory: Any, tmp_path: Path
) -> None:
    api = api_factory(wait="ready")
    targets = write_targets(tmp_path, api)
    api.stop()
    result, records = run_checks(tmp_path, targets, api.token)
    failed = {check: r["message"] for check, r in records.items() if r["outcome"] == "failed"}
    assert set(failed) == HTTP_CHECKS
    assert failed["test_triage.py::test_api_answers_health_live"].startswith(
        f"Triage 1: target 'live': unreachable, connection refused: {api.base_url}/health/live"
    )
    assert failed["test_verification.py::test_metrics_expose_http_requests_total"].startswith(
        f"Verification 4: target 'live': unreachable, connection refused: {api.metrics_url}"
    )
    assert "Traceback" not in result.stdout
    assert "def test_" not in result.stdout  # no source listing: one-line failures
    code, diagnosis, _ = run_diagnose(targets, api.token)
    assert (code, diagnosis["cause"]) == (3, "unreachable")


def test_stopped_database_fails_readiness_and_data_checks_and_diagnoses_fix_1(
    api_server: Any, postgres_server: Any, tmp_path: Path
) -> None:
    targets = write_targets(tmp_path, api_server)
    postgres_server.stop()
    try:
        result, records = run_checks(tmp_path, targets, api_server.token)
        code, diagnosis, _ = run_diagnose(targets, api_server.token)
    finally:
        postgres_server.start()
    failed = {check: r["message"] for check, r in records.items() if r["outcome"] == "failed"}
    assert set(failed) == {
        "test_verification.py::test_health_ready_is_healthy",
        "test_verification.py::test_activities_answer_with_the_token",
        "test_verification.py::test_activity_write_path",
    }, result.stdout
    assert failed["test_verification.py::test_health_ready_is_healthy"].startswith(
        f"Verification 2: GET {api_server.base_url}/health/ready answered HTTP 503"
    )
    assert '"database":"unavailable"' in failed["test_verification.py::test_health_ready_is_healthy"]
    assert (code, diagnosis["cause"], diagnosis["section"]) == (2, "database", "Fix 1")
    assert "kubectl rollout restart statefulset/postgres -n offgridflow" in diagnosis["commands"]
    api_server.wait_ready()
