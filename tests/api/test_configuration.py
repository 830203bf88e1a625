"""Configuration errors: exit status 78 and one JSON `invalid configuration` line naming key and value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from offgridflow_api.config import ConfigError, load_settings

API_SCRIPT = Path(sys.executable).with_name("offgridflow-api")
REQUIRED = {"OFFGRIDFLOW_DATABASE_PASSWORD": "pw-secret-1", "OFFGRIDFLOW_API_TOKENS": "tok-secret-1"}


def test_defaults_follow_the_documented_contract() -> None:
    settings = load_settings(REQUIRED)
    assert (settings.bind, settings.http_port, settings.metrics_port) == ("127.0.0.1", 8080, 8081)
    assert (settings.database_host, settings.database_port) == ("127.0.0.1", 5432)
    assert (settings.database_name, settings.database_user) == ("offgridflow", "offgridflow")
    assert (settings.db_pool_max, settings.db_timeout_seconds, settings.log_level) == (10, 1.0, "INFO")
    assert settings.chaos_assaults == frozenset()
    assert settings.max_body_bytes == 1024 * 1024


def test_tokens_are_a_comma_separated_list() -> None:
    settings = load_settings({**REQUIRED, "OFFGRIDFLOW_API_TOKENS": " a, b ,,c "})
    assert settings.api_tokens == frozenset({"a", "b", "c"})


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("OFFGRIDFLOW_DB_POOL_MAX", "lots", "integer"),
        ("OFFGRIDFLOW_DB_POOL_MAX", "0", "1..100"),
        ("OFFGRIDFLOW_HTTP_PORT", "70000", "1..65535"),
        ("OFFGRIDFLOW_BIND", "localhost", "IP address"),
        ("OFFGRIDFLOW_DB_TIMEOUT_SECONDS", "0", "> 0"),
        ("OFFGRIDFLOW_DB_TIMEOUT_SECONDS", "nan", "> 0"),
        ("OFFGRIDFLOW_LOG_LEVEL", "LOUD", "DEBUG"),
        ("OFFGRIDFLOW_CHAOS_ASSAULTS", "memory,cpu", "unknown assault 'cpu'"),
        ("OFFGRIDFLOW_DATABASE_HOST", "  ", "empty"),
        ("OFFGRIDFLOW_METRICS_PORT", "8080", "differ"),
        ("OFFGRIDFLOW_MAX_BODY_BYTES", "1MiB", "integer"),
        ("OFFGRIDFLOW_MAX_BODY_BYTES", "0", "bytes 1.."),
        ("OFFGRIDFLOW_MAX_BODY_BYTES", str(2**40), "bytes 1.."),
    ],
)
def test_each_invalid_value_names_its_key_value_and_reason(key: str, value: str, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**REQUIRED, key: value})
    assert (raised.value.key, raised.value.value) == (key, value)
    assert reason in raised.value.reason


@pytest.mark.parametrize(
    ("key", "blank"), [("OFFGRIDFLOW_DATABASE_PASSWORD", "  "), ("OFFGRIDFLOW_API_TOKENS", " , ")]
)
def test_missing_secrets_are_reported_and_secret_values_are_masked(key: str, blank: str) -> None:
    with pytest.raises(ConfigError, match="required"):
        load_settings({k: v for k, v in REQUIRED.items() if k != key})
    with pytest.raises(ConfigError) as raised:
        load_settings({**REQUIRED, key: blank})
    assert raised.value.value == "***"


def run_service(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OFFGRIDFLOW_")}
    # port 1 on loopback: if validation wrongly passed, the process would fail fast, not serve
    return subprocess.run(
        [str(API_SCRIPT)],
        env={**clean, **REQUIRED, "OFFGRIDFLOW_HTTP_PORT": "1", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("OFFGRIDFLOW_DB_POOL_MAX", "lots", "lots"),
        ("OFFGRIDFLOW_METRICS_PORT", "-3", "-3"),
        ("OFFGRIDFLOW_LOG_LEVEL", "verbose", "verbose"),
        ("OFFGRIDFLOW_API_TOKENS", ",", "***"),
    ],
)
def test_the_process_exits_78_after_one_json_line(key: str, value: str, shown: str) -> None:
    if not API_SCRIPT.exists():
        pytest.skip(
            f"console script {API_SCRIPT} not found: install the project (pip install -e '.[service]')"
        )
    result = run_service({key: value})
    assert result.returncode == 78, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["level"] == "error"
    assert entry["event"] == "invalid configuration"
    assert (entry["key"], entry["value"]) == (key, shown)
    assert entry["reason"]
    assert "Traceback" not in result.stderr
    assert "tok-secret-1" not in result.stdout + result.stderr
