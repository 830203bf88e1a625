"""The local stack's rendered configuration and quantities (no engine needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from offgridflow_runbook.environments.local import prometheus as prometheus_config
from offgridflow_runbook.platforms.base import PlatformError
from offgridflow_runbook.platforms.docker.specs import quantity_bytes
from offgridflow_runbook.targets import Target


@pytest.mark.parametrize(
    ("quantity", "expected"), [("512Mi", 512 * 2**20), ("2Gi", 2 * 2**30), ("1G", 10**9)]
)
def test_memory_quantities(quantity: str, expected: int):
    assert quantity_bytes(quantity) == expected


def test_a_wrong_quantity_is_refused_with_an_example():
    with pytest.raises(ValueError, match="512Mi or 2Gi"):
        quantity_bytes("lots")


def test_render_fast_profile_from_the_repository_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    (home / "deploy" / "docker").mkdir(parents=True)
    rules = home / "deploy" / "prometheus" / "rules"
    rules.mkdir(parents=True)
    rule = {"alert": "OffGridFlowAPIDown", "expr": 'up{job="offgridflow-api"} == 0', "for": "1m"}
    (rules / "offgridflow.rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [rule]}]}))
    monkeypatch.setenv("OFFGRIDFLOW_HOME", str(home))
    monkeypatch.setenv("OFFGRIDFLOW_STATE_DIR", str(tmp_path / "state"))

    folder = prometheus_config.render("fast")

    rendered = yaml.safe_load((folder / "rules" / "offgridflow.rules.yml").read_text())
    assert rendered["groups"][0]["rules"][0]["for"] == "3s"
    config = yaml.safe_load((folder / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "1s"
    assert config["global"]["external_labels"]["profile"] == "fast"
    assert {job["job_name"] for job in config["scrape_configs"]} >= {"offgridflow-api", "postgres"}
    alertmanager = yaml.safe_load((folder / "alertmanager.yml").read_text())
    hooks = [hook["url"] for r in alertmanager["receivers"] for hook in r.get("webhook_configs", [])]
    assert hooks == ["http://127.0.0.1:9095/alerts"]


def test_an_unknown_profile_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OFFGRIDFLOW_STATE_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="fast, production"):
        prometheus_config.render("slow")


def test_an_unreachable_engine_is_one_platform_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from offgridflow_runbook.platforms.docker.driver import DockerPlatform

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    target = Target(name="local", platform="docker", base_url="http://127.0.0.1:8080")
    with pytest.raises(PlatformError, match="cannot reach the Docker Engine"):
        DockerPlatform(target)


def test_up_refuses_a_machine_without_root_debian_or_docker_in_one_message(monkeypatch: pytest.MonkeyPatch):
    from offgridflow_runbook.environments.local import preflight

    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(preflight.shutil, "which", lambda _name: None)
    with pytest.raises(preflight.StackError) as refused:
        preflight.check_machine()
    message = str(refused.value)
    assert "run as root" in message
    assert "apt-get install docker.io" in message
    assert "\n" not in message


def test_the_stack_command_exits_2_with_one_line_when_the_machine_cannot_run_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from offgridflow_runbook.environments.local import __main__ as command
    from offgridflow_runbook.environments.local import preflight

    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)
    assert command.main(["up"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: cannot bring the local stack up: run as root")
    assert error.count("\n") == 1


def test_the_stack_lock_times_out_while_another_holder_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import fcntl

    from offgridflow_runbook.environments.local import lock
    from offgridflow_runbook.environments.local.preflight import StackError

    monkeypatch.setattr(lock, "STACK_LOCK", tmp_path / "stack.lock")
    monkeypatch.delenv(lock.LOCK_HELD_ENV, raising=False)
    with (tmp_path / "stack.lock").open("a") as other_holder:
        fcntl.flock(other_holder, fcntl.LOCK_EX)
        with pytest.raises(StackError, match="stayed locked"), lock.stack_lock(deadline_seconds=0.5):
            pass
        monkeypatch.setenv(lock.LOCK_HELD_ENV, "1")
        with lock.stack_lock(deadline_seconds=0.5):
            pass  # the caller says it holds the lock: no wait


def _render_repository_alertmanager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("OFFGRIDFLOW_STATE_DIR", str(tmp_path / "state"))
    return yaml.safe_load((prometheus_config.render("fast") / "alertmanager.yml").read_text())


def _integrations(document: dict[str, Any]) -> dict[str, set[str]]:
    return {
        receiver["name"]: {key.removesuffix("_configs") for key in receiver if key.endswith("_configs")}
        for receiver in document["receivers"]
    }


def test_pagerduty_and_slack_are_left_out_without_their_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    rendered = _render_repository_alertmanager(tmp_path, monkeypatch)
    assert _integrations(rendered) == {
        "blackhole": set(),
        "primary-oncall": {"webhook"},
        "platform-channel": {"webhook"},
        "secondary-backend": {"webhook"},
    }


def test_an_integration_is_kept_once_its_secret_file_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    secrets = tmp_path / "state" / "alertmanager-secrets"
    secrets.mkdir(parents=True)
    (secrets / "pagerduty-primary-routing-key").write_text("key\n")
    rendered = _render_repository_alertmanager(tmp_path, monkeypatch)
    assert _integrations(rendered)["primary-oncall"] == {"webhook", "pagerduty"}
    assert _integrations(rendered)["secondary-backend"] == {"webhook"}
