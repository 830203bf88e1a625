"""`offgridflow-runbook`: user mistakes are one line and exit 64; the text output names it all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.triage_fakes import TOKEN
from offgridflow_runbook.cli import EXIT_USAGE, main


def test_unknown_target_is_one_line_exit_64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  only:\n    platform: none\n    base_url: http://127.0.0.1:9\n")
    assert main(["diagnose", "--target", "nope", "--targets-file", str(targets)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == f"offgridflow-runbook: error: unknown target 'nope'; known targets in {targets}: only\n"


def test_bad_targets_file_is_one_line_exit_64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  broken:\n    platform: openstack\n    base_url: http://127.0.0.1:9\n")
    assert main(["diagnose", "--target", "broken", "--targets-file", str(targets)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert (
        "target 'broken': platform must be one of ['docker', 'kubernetes', 'none'], "
        "not the string 'openstack'" in err
    )


def test_unknown_option_exits_64_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["diagnose", "--no-such-option"])
    assert raised.value.code == EXIT_USAGE
    assert "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_unreachable_target_prints_cause_section_commands_and_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UNIT_TEST_TOKEN", TOKEN)
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        "targets:\n  gone:\n    platform: none\n    base_url: http://127.0.0.1:9\n"
        "    token_env: UNIT_TEST_TOKEN\n"
    )
    assert main(["diagnose", "--target", "gone", "--targets-file", str(targets)]) == 3
    out = capsys.readouterr().out
    assert "cause:    unreachable" in out
    assert "section:  Triage 1" in out
    assert "  curl -f http://127.0.0.1:9/health/live" in out
    assert main(["diagnose", "--target", "gone", "--targets-file", str(targets), "--json"]) == 3
    body = json.loads(capsys.readouterr().out)
    assert (body["cause"], body["exit_code"], body["target"]) == ("unreachable", 3, "gone")
    assert TOKEN not in json.dumps(body)


def test_check_runs_the_pytest_checks_and_fails_on_a_dead_target(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n  gone:\n    platform: none\n    base_url: http://127.0.0.1:9\n")
    result = subprocess.run(
        [str(Path(sys.executable).with_name("offgridflow-runbook")), "check", "--target", "gone",
         "--checks-dir", str(root / "checks"), "--", f"--targets-file={targets}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert (
        "Triage 1: target 'gone': unreachable, connection refused: http://127.0.0.1:9/health/live"
        in result.stdout
    )
    records = [
        json.loads(line) for line in (tmp_path / "reports/checks/results.jsonl").read_text().splitlines()
    ]
    assert {r["outcome"] for r in records} == {"failed", "skipped"}


def _targets(tmp_path: Path, body: str) -> Path:
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets:\n" + body)
    return targets


@pytest.fixture
def cluster_targets(tmp_path: Path, api_answering: str) -> Path:
    """A Kubernetes target whose kubeconfig does not exist and whose API answers healthy."""
    return _targets(
        tmp_path,
        f"  cluster:\n    platform: kubernetes\n    base_url: {api_answering}\n"
        f"    kubeconfig: {tmp_path / 'nowhere'}\n",
    )


def test_a_kubernetes_target_without_a_kubeconfig_is_inconclusive_exit_4_not_healthy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cluster_targets: Path
) -> None:
    assert main(["diagnose", "--target", "cluster", "--targets-file", str(cluster_targets)]) == 4
    out = capsys.readouterr().out
    assert "outcome:  inconclusive" in out
    assert "could not see:" in out
    assert f"kubeconfig {tmp_path / 'nowhere'} not found" in out


def test_the_kubeconfig_option_overrides_the_targets_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cluster_targets: Path
) -> None:
    other = tmp_path / "other-kubeconfig"
    argv = [
        "diagnose",
        "--target",
        "cluster",
        "--targets-file",
        str(cluster_targets),
        "--kubeconfig",
        str(other),
    ]
    assert main(argv) == 4
    assert f"kubeconfig {other} not found" in capsys.readouterr().out


def test_record_then_from_record_gives_the_same_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = _targets(tmp_path, "  gone:\n    platform: none\n    base_url: http://127.0.0.1:9\n")
    saved = tmp_path / "look.json"
    argv = ["diagnose", "--target", "gone", "--targets-file", str(targets), "--json"]
    assert main([*argv, "--record", str(saved)]) == 3
    live = json.loads(capsys.readouterr().out)
    assert main(["diagnose", "--from-record", str(saved), "--json"]) == 3
    assert json.loads(capsys.readouterr().out) == live


def test_an_unreadable_record_or_a_bad_since_is_one_line_exit_64(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["diagnose", "--from-record", str(tmp_path / "missing.json")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("offgridflow-runbook: error: ")
    assert err.count("\n") == 1
    with pytest.raises(SystemExit) as raised:
        main(["diagnose", "--since", "soon"])
    assert raised.value.code == EXIT_USAGE
    assert "'soon' is not a duration such as 10m, 1h or 2d" in capsys.readouterr().err
