"""The synthetic monitor as a service of the local stack: its container, its image's inputs, and the
stack's Prometheus scraping it (rendered here; no engine is touched)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from offgridflow_runbook.alerting.profiles import MONITOR_EVERY, seconds
from offgridflow_runbook.cli import build_parser
from offgridflow_runbook.environments.local import prometheus as prometheus_config
from offgridflow_runbook.environments.local.images import StackError, monitor_requirements, monitor_rules_file
from offgridflow_runbook.environments.local.ports import PORTS
from offgridflow_runbook.platforms.docker import specs
from offgridflow_runbook.platforms.docker.names import SYNTHETIC_MONITOR, docker_dir
from offgridflow_runbook.platforms.docker.revisions import api_token
from offgridflow_runbook.probes.prometheus import DEFAULT_RULES_FILE, RULES_FILE_ENV
from offgridflow_runbook.project import project_root
from offgridflow_runbook.targets import load_targets


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OFFGRIDFLOW_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.mark.parametrize("profile", ["fast", "production"])
def test_the_monitor_container_runs_the_monitor_of_the_local_target(profile: str, state: Path) -> None:
    spec = specs.synthetic_monitor_spec(profile)
    args = build_parser().parse_args(spec["command"])
    assert args.command == "monitor"
    assert args.listen == ("127.0.0.1", specs.MONITOR_PORT)
    assert PORTS[SYNTHETIC_MONITOR] == (specs.MONITOR_PORT,)
    # the profile's one interval (kind's too); production's is the documented 60 s
    assert args.every.total_seconds() == seconds(MONITOR_EVERY[profile])
    assert seconds(MONITOR_EVERY["production"]) == 60
    assert spec["network_mode"] == "host"
    assert spec["restart_policy"]["Name"] == "unless-stopped"
    volumes = {bind["bind"]: (source, bind["mode"]) for source, bind in spec["volumes"].items()}
    assert {mode for _, mode in volumes.values()} == {"ro"}, "the monitor only reads"
    targets_file, _ = volumes[spec["environment"]["OFFGRIDFLOW_TARGETS"]]
    target = load_targets(targets_file)[args.target]
    assert target.platform == "docker"
    assert target.identity is not None
    assert target.identity.docker_host == "unix:///var/run/docker.sock"
    assert "/var/run/docker.sock" in volumes
    assert spec["environment"][target.token_env] == api_token().split(",")[0]


def test_the_stack_prometheus_scrapes_the_monitor(state: Path) -> None:
    folder = prometheus_config.render("fast")
    config = yaml.safe_load((folder / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["synthetic-monitor"]["static_configs"] == [{"targets": [f"127.0.0.1:{specs.MONITOR_PORT}"]}]
    shipped = yaml.safe_load((project_root() / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert {job["job_name"]: job for job in shipped["scrape_configs"]}["synthetic-monitor"] == jobs[
        "synthetic-monitor"
    ]
    rules = {path.name for path in (folder / "rules").glob("*.yml")}
    assert "offgridflow-synthetic.rules.yml" in rules


def test_the_monitor_image_installs_pyprojects_pins_of_what_the_command_imports() -> None:
    import tomllib

    project = tomllib.loads((project_root() / "pyproject.toml").read_text(encoding="utf-8"))
    chosen = monitor_requirements(project["project"]["dependencies"])
    assert [re.match(r"[\w.-]+", item).group(0) for item in chosen] == [  # type: ignore[union-attr]
        "httpx",
        "kubernetes",
        "docker",
        "PyYAML",
    ]
    assert all(item in project["project"]["dependencies"] for item in chosen)


def test_a_pyproject_without_a_monitor_requirement_is_refused() -> None:
    with pytest.raises(StackError, match="do not name all of"):
        monitor_requirements(["httpx>=0.27", "PyYAML>=6"])


def test_the_monitor_image_reads_the_error_rate_rule_from_the_copied_rules_file() -> None:
    dockerfile = (docker_dir() / "monitor.Dockerfile").read_text(encoding="utf-8")
    assert "-r /tmp/wheelhouse/monitor-requirements.txt" in dockerfile
    copied = re.search(rf"{RULES_FILE_ENV}=(\S+)", dockerfile)
    assert copied is not None
    assert f"cp /tmp/wheelhouse/{monitor_rules_file().name} {copied.group(1)}" in dockerfile
    assert monitor_rules_file() == DEFAULT_RULES_FILE
    assert 'ENTRYPOINT ["offgridflow-runbook"]' in dockerfile
