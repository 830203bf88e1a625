"""Integrations whose key file is missing are left out of the Alertmanager configuration."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from offgridflow_runbook.alerting import drop_integrations_without_secrets
from offgridflow_runbook.alerting.__main__ import main

SOURCE = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alertmanager.yml"


def integrations(document: dict) -> dict[str, set[str]]:
    return {r["name"]: {k for k in r if k.endswith("_configs")} for r in document["receivers"]}


def test_without_any_secret_every_receiver_keeps_only_its_webhook(tmp_path: Path):
    document = yaml.safe_load(SOURCE.read_text())
    dropped = drop_integrations_without_secrets(document, tmp_path)
    assert "primary-oncall: pagerduty" in dropped
    assert integrations(document) == {
        "blackhole": set(),
        "primary-oncall": {"webhook_configs"},
        "platform-channel": {"webhook_configs"},
        "secondary-backend": {"webhook_configs"},
    }


def test_a_present_key_file_keeps_its_integration(tmp_path: Path):
    (tmp_path / "pagerduty-primary-routing-key").write_text("key")
    document = yaml.safe_load(SOURCE.read_text())
    drop_integrations_without_secrets(document, tmp_path)
    assert integrations(document)["primary-oncall"] == {"webhook_configs", "pagerduty_configs"}
    assert integrations(document)["secondary-backend"] == {"webhook_configs"}


def test_the_init_container_command_writes_a_config_amtool_accepts(tmp_path: Path, capsys):
    destination = tmp_path / "out" / "alertmanager.yml"
    assert main([str(SOURCE), str(tmp_path / "no-secrets"), str(destination)]) == 0
    assert "left out" in capsys.readouterr().out
    assert "pagerduty" not in destination.read_text()
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (make system-deps)")
    subprocess.run([amtool, "check-config", str(destination)], check=True, capture_output=True)


def test_a_missing_source_is_one_clear_error(tmp_path: Path, capsys):
    assert main([str(tmp_path / "nope.yml"), str(tmp_path), str(tmp_path / "out.yml")]) == 2
    assert capsys.readouterr().err.startswith("error: cannot read")
