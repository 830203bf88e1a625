"""benchmarks/bench_checks.py's by-hand yardstick: Triage 1 and Verification 1-5 as the shell lines a
person types, read from the runbook and its Docker equivalents, and run one after the other."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from helpers.benchmarks import load_benchmark
from offgridflow_runbook.platforms.docker.commands import DOCKER_EQUIVALENTS
from offgridflow_runbook.targets import load_target


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("bench_checks")


def test_on_docker_every_kubectl_line_is_its_docker_equivalent(bench: ModuleType) -> None:
    local = load_target("local")
    lines = bench.by_hand_lines(local)
    assert lines[0] == f"curl -f {local.base_url}/health/live"
    assert not [line for line in lines if line.startswith("kubectl")]
    equivalents = {instead for _, _, instead in DOCKER_EQUIVALENTS}
    docker_lines = [line for line in lines if line.startswith("docker ")]
    # Triage 1: pods, describe, logs; Verification 1: pods again
    assert len(docker_lines) == 4
    assert set(docker_lines) <= equivalents
    assert f'curl -H "Authorization: Bearer $TOKEN" {local.base_url}/v1/activities?limit=1' in lines
    # Verification 5: the error rate itself, as the runbook's Grafana panel shows it
    assert lines[-1].startswith(f"curl -sfG {local.prometheus_url}/api/v1/query --data-urlencode ")
    assert "rate(http_requests_total" in lines[-1]
    assert "> 0.01" not in lines[-1]


def test_on_kubernetes_the_runbook_lines_are_run_as_written_for_the_target(bench: ModuleType) -> None:
    kind = load_target("kind")
    lines = bench.by_hand_lines(kind)
    kubectl = [line for line in lines if line.startswith("kubectl ")]
    assert len(kubectl) == 4
    assert all(f"-n {kind.namespace}" in line for line in kubectl)
    assert not [line for line in lines if line.startswith("docker ")]


def test_without_a_platform_only_the_http_lines_remain(bench: ModuleType) -> None:
    bare = replace(load_target("local"), platform="none")
    lines = bench.by_hand_lines(bare)
    assert lines
    assert all(line.startswith("curl ") for line in lines)


def test_every_line_runs_with_the_token_and_a_failing_one_is_reported(
    bench: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_TEST_TOKEN", "s3cret")
    target = replace(load_target("local"), token_env="BENCH_TEST_TOKEN")
    wall, cpu, failed = bench.by_hand(["false", 'test "$TOKEN" = s3cret', "exit 3"], target)
    assert failed == ["false", "exit 3"]
    assert wall > 0
    assert cpu >= 0


def test_the_start_up_run_collects_the_checks_without_reading_the_target_or_writing_reports(
    bench: ModuleType, tmp_path: Path
) -> None:
    # a target nobody answers: a run that read it would fail its checks, and one that wrote reports
    # would leave reports/ in its working directory
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  nobody:\n    platform: none\n    base_url: http://127.0.0.1:9\n")
    wall, cpu = bench.run_start_up(targets, "nobody", tmp_path)
    assert wall > 0
    assert cpu > 0
    assert not (tmp_path / "reports").exists()
    command = bench.checks_command(targets, "nobody", "--collect-only")
    assert command[-1] == "--collect-only"
    assert f"--targets-file={targets}" in command


def test_a_start_up_run_that_fails_exits_with_its_output(bench: ModuleType, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  nobody:\n    platform: none\n    base_url: http://127.0.0.1:9\n")
    with pytest.raises(SystemExit, match=r"the start-up run failed:(.|\n)*'somebody'"):
        bench.run_start_up(targets, "somebody", tmp_path)
