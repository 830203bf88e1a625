"""``offgridflow-runbook gate`` against a platform that rolls images out (``RollingPlatform``) and an
API on 127.0.0.1 that serves whatever that platform runs: the real checks (``pytest checks`` in a
subprocess) and the real drift judge each candidate, and the real Verification 1-5 judges the rollback."""

from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers.cli_exit import exit_code
from helpers.gate_fakes import (
    BROKEN,
    GOOD,
    MISSING,
    OLDER,
    TOKEN,
    TOKEN_ENV,
    RollingPlatform,
    serving_api,
    targets_yaml,
)
from offgridflow_runbook import platforms
from offgridflow_runbook.cli import main
from offgridflow_runbook.platforms.identity import SeenIdentity
from offgridflow_runbook.targets import Target

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class GateEnv:
    platform: RollingPlatform
    targets_file: Path
    reports: Path
    opened: list[Target]

    def gate(self, image: str, *options: str, target: str = "fake") -> int:
        return main(
            ["gate", "--target", target, "--targets-file", str(self.targets_file), "--image", image,
             "--checks-dir", str(ROOT / "checks"), "--reports", str(self.reports), *options]
        )  # fmt: skip

    @property
    def verdict(self) -> dict[str, Any]:
        return dict(json.loads((self.reports / "gate.json").read_text()))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GateEnv]:
    """The platform is what ``platform_for`` opens for the command (the targets file says ``none``, so
    the checks' subprocess reads the API only and skips its platform steps with that reason)."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    platform = RollingPlatform()
    opened: list[Target] = []

    def open_fake(target: Target) -> RollingPlatform:
        opened.append(target)
        return platform

    monkeypatch.setattr(platforms, "platform_for", open_fake)
    with serving_api(platform) as base_url:
        targets_file = tmp_path / "targets.yaml"
        targets_file.write_text(targets_yaml(base_url))
        yield GateEnv(platform, targets_file, tmp_path / "reports", opened)


def junit_outcomes(path: Path) -> dict[str, str]:
    """Each check of the checks' JUnit report by name: passed, failed or skipped."""
    outcomes = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):  # noqa: S314 - our own run wrote it
        kinds = {child.tag for child in case}
        named = {"failure": "failed", "error": "error", "skipped": "skipped"}
        outcomes[case.attrib["name"]] = next((named[k] for k in named if k in kinds), "passed")
    return outcomes


def test_a_good_candidate_passes_and_stays(env: GateEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert env.gate(OLDER) == 0
    assert env.platform.calls[0] == f"set_image {OLDER}"
    assert "rollout_undo" not in env.platform.calls
    assert env.platform.template == env.platform.running == OLDER
    verdict = env.verdict
    assert verdict["verdict"] == "passed"
    assert verdict["exit_code"] == 0
    assert verdict["failures"] == []
    assert verdict["rollback"] is None
    assert verdict["before"]["revision"] == 1
    assert verdict["before"]["image"] == GOOD
    assert verdict["candidate"] == OLDER
    assert verdict["changed"] is True
    assert verdict["rollout"]["complete"] is True
    assert set(verdict["timings_s"]) >= {"rollout", "checks", "drift", "total"}
    # the checks really ran against the candidate: the API's Verification 3 passed in their JUnit
    outcomes = junit_outcomes(env.reports / "junit.xml")
    assert outcomes["test_activities_answer_with_the_token"] == "passed"
    assert outcomes["test_activity_write_path"] == "passed"
    assert (env.reports / "report.html").stat().st_size > 0
    assert TOKEN not in (env.reports / "gate.json").read_text() + (env.reports / "drift.json").read_text()
    out = capsys.readouterr().out
    assert out.startswith(f"gate: passed: {OLDER} on target 'fake' (exit 0)")
    assert f"verdict: {env.reports / 'gate.json'}" in out


def test_the_deployed_image_as_candidate_changes_nothing_and_passes(
    env: GateEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert env.gate(GOOD, "--json") == 0
    assert env.platform.history[-1].number == 1
    assert env.verdict["changed"] is False
    assert json.loads(capsys.readouterr().out) == env.verdict  # --json prints gate.json


def test_a_tag_the_registry_lacks_is_rejected_once_its_pull_fails_for_the_grace(env: GateEnv) -> None:
    assert env.gate(MISSING, "--rollout-timeout", "120", "--pull-grace", "1") == 1
    verdict = env.verdict
    assert verdict["failed_steps"][0] == "rollout"
    message = verdict["failures"][0]["message"]
    assert "the candidate's image cannot be pulled (ErrImagePull on offgridflow-api-2" in message
    assert "manifest unknown" in message
    assert verdict["rollout"]["unpullable"] in message
    assert verdict["timings_s"]["rollout"] < 60  # two wait slices, not the 120 s bound
    assert env.platform.template == env.platform.running == GOOD
    assert verdict["rollback"]["passed"] is True


def test_a_missing_tag_never_becomes_ready_within_the_bound_and_is_rolled_back(env: GateEnv) -> None:
    assert env.gate(MISSING, "--rollout-timeout", "1") == 1
    verdict = env.verdict
    assert verdict["verdict"] == "rejected, rolled back"
    assert verdict["failed_steps"][0] == "rollout"
    assert "not complete within 1 s" in verdict["failures"][0]["message"]
    assert env.platform.calls.count("rollout_undo") == 1
    assert env.platform.template == env.platform.running == GOOD
    assert verdict["rollback"]["passed"] is True
    assert verdict["rollback"]["image_after"] == GOOD
    assert {s["step"] for s in verdict["rollback"]["verification"]} >= {
        f"Verification {n}" for n in range(1, 5)
    }


def test_a_candidate_that_becomes_ready_but_fails_verification_3_is_rolled_back_with_the_step_named(
    env: GateEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert env.gate(BROKEN) == 1
    verdict = env.verdict
    assert verdict["rollout"]["complete"] is True
    assert verdict["failed_steps"] == ["Verification 3"]
    by = {(f["by"], f["where"].rsplit("::", 1)[-1]) for f in verdict["failures"]}
    assert ("checks", "test_activities_answer_with_the_token") in by
    assert ("checks", "test_activity_write_path") in by
    # the runbook's own curl line for Verification 3 drifted with the candidate (and not before it)
    assert any(f["by"] == "drift" and "HTTP 500" in f["message"] for f in verdict["failures"])
    assert env.platform.calls.count("rollout_undo") == 1
    assert env.platform.running == GOOD
    assert (verdict["rollback"]["action"], verdict["rollback"]["passed"]) == ("rollout undo", True)
    assert junit_outcomes(env.reports / "junit.xml")["test_activities_answer_with_the_token"] == "failed"
    out = capsys.readouterr().out
    assert "gate: rejected, rolled back" in out
    assert "failed: Verification 3 (checks)" in out


def test_a_rollback_that_fails_exits_3(env: GateEnv) -> None:
    env.platform.undo_error = "rollout undo: the API server refused the patch"
    assert env.gate(BROKEN) == 3
    verdict = env.verdict
    assert verdict["verdict"] == "rejected, rollback failed"
    assert verdict["rollback"]["passed"] is False
    assert "the API server refused the patch" in verdict["rollback"]["message"]


def test_a_rollback_that_does_not_pass_verification_within_its_bound_exits_3(env: GateEnv) -> None:
    # the revision before the gate was itself broken: the rollback lands on it and Verification 3 stays red
    env.platform.history = [env.platform.history[0].__class__(1, BROKEN, "512Mi", "256Mi")]
    env.platform.running = BROKEN
    env.platform.broken.add(OLDER)
    assert env.gate(OLDER, "--rollback-timeout", "1") == 3
    verdict = env.verdict
    assert verdict["before"]["verification_passed"] is False
    assert verdict["rollback"]["image_after"] == BROKEN
    assert "Verification 3 failed" in verdict["rollback"]["message"]


def test_a_target_that_does_not_allow_writes_is_refused_before_anything_changes(
    env: GateEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert env.gate(OLDER, target="readonly") == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "does not allow writes" in err
    assert env.opened == []  # the platform was not even opened
    assert env.platform.calls == []
    assert not env.reports.exists()


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--image", "ghcr.io/your-org/offgridflow-api"], "names no tag or digest"),
        (["--image", "ghcr.io/Your-Org/API:v1"], "is not an image reference"),
        (["--image", "ghcr.io/your-org/offgridflow-api:v1 "], "is not an image reference"),
        (["--image", OLDER, "--rollout-timeout", "0"], "seconds 1..86400, not '0'"),
        (["--image", OLDER, "--rollback-timeout", "soon"], "seconds 1..86400, not 'soon'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_64(
    env: GateEnv, capsys: pytest.CaptureFixture[str], options: list[str], says: str
) -> None:
    argv = ["gate", "--target", "fake", "--targets-file", str(env.targets_file), *options]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 64
    err = capsys.readouterr().err
    assert says in err.splitlines()[-1]
    assert "Traceback" not in err
    assert env.platform.calls == []


def test_no_token_is_refused_before_anything_changes(
    env: GateEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    assert env.gate(OLDER) == 64
    assert f"${TOKEN_ENV}" in capsys.readouterr().err
    assert env.platform.calls == []


def test_sigint_during_the_rollout_rolls_back_then_exits_130(env: GateEnv) -> None:
    platform = env.platform
    interrupts = iter([signal.SIGINT, signal.SIGINT])
    real_wait, real_undo = platform.wait_rollout, platform.rollout_undo

    def wait_interrupted(timeout: float = 120.0) -> Any:
        if "rollout_undo" not in platform.calls:
            signal.raise_signal(next(interrupts))  # Ctrl-C while the candidate rolls out
        return real_wait(timeout)

    def undo_interrupted_again() -> None:
        signal.raise_signal(next(interrupts))  # a second Ctrl-C during the rollback: ignored
        real_undo()

    platform.wait_rollout = wait_interrupted  # type: ignore[method-assign]
    platform.rollout_undo = undo_interrupted_again  # type: ignore[method-assign]
    assert env.gate(MISSING) == 130
    verdict = env.verdict
    assert verdict["interrupted"] is True
    assert verdict["rollback"]["passed"] is True
    assert platform.template == platform.running == GOOD
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_waits_say_what_they_wait_for_and_stay_within_their_bound(env: GateEnv, tmp_path: Path) -> None:
    from offgridflow_runbook.gate.judge import PytestChecks
    from offgridflow_runbook.gate.runner import GateSettings, run_gate
    from offgridflow_runbook.runbook import load_runbook
    from offgridflow_runbook.targets import load_target

    said: list[str] = []
    target = load_target("fake", env.targets_file)
    checks = PytestChecks(ROOT / "checks", ["--target", "fake", "--targets-file", str(env.targets_file)], 120)
    settings = GateSettings(rollout_timeout=1.2, rollback_timeout=5, poll_s=0.3)
    report = run_gate(
        target, MISSING, platform=env.platform, checks=checks, runbook=load_runbook(),
        reports_dir=env.reports, settings=settings, say=said.append,
    )  # fmt: skip
    assert report.exit_code == 1
    waiting = [line for line in said if line.startswith("rollout: waiting for the rollout (")]
    assert 2 <= len(waiting) <= 5
    assert "0 of 1 updated replicas are available" in waiting[0]
    assert report.timings_s["rollout"] < 1.2 + 0.5


def test_a_failing_candidate_that_is_already_deployed_is_rejected_with_nothing_to_roll_back(
    env: GateEnv,
) -> None:
    env.platform.broken.add(GOOD)  # the running build itself answers 500
    assert env.gate(GOOD, "--rollback-timeout", "1") == 1
    verdict = env.verdict
    assert verdict["verdict"] == "rejected, nothing to roll back"
    assert verdict["failed_steps"] == ["Verification 3"]
    assert verdict["rollback"]["action"] == "none"
    assert "rollout_undo" not in env.platform.calls
    assert verdict["before"]["verification_failed_steps"] == ["Verification 3"]


@pytest.mark.parametrize(
    ("seen_host", "seen_labels", "says"),
    [
        ("tcp://10.0.0.9:2376", ("local",), "expected Docker engine unix:///var/run/docker.sock"),
        ("unix:///var/run/docker.sock", ("staging",), "expected containers of stack 'local'"),
    ],
)
def test_a_target_whose_declared_identity_does_not_answer_is_refused_before_anything_changes(
    env: GateEnv,
    capsys: pytest.CaptureFixture[str],
    seen_host: str,
    seen_labels: tuple[str, ...],
    says: str,
) -> None:
    env.targets_file.write_text(
        env.targets_file.read_text()
        + "  declared:\n    platform: docker\n"
        + f"    base_url: http://127.0.0.1:9\n    token_env: {TOKEN_ENV}\n    allow_writes: true\n"
        + "    identity:\n      docker_host: unix:///var/run/docker.sock\n      stack_label: local\n"
    )
    env.platform.seen = SeenIdentity("docker", docker_host=seen_host, stack_labels=seen_labels)
    assert env.gate(OLDER, target="declared") == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert says in err
    assert env.platform.calls == []  # nothing set, nothing undone
    assert not (env.reports / "gate.json").exists()


def a_regular_file(base: Path) -> Path:
    (base / "reports").write_text("a file")
    return base / "reports"


def under_a_regular_file(base: Path) -> Path:
    (base / "file").write_text("a file")
    return base / "file" / "reports"


def its_verdict_a_directory(base: Path) -> Path:
    (base / "reports" / "gate.json").mkdir(parents=True)
    return base / "reports"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (a_regular_file, "not a directory"),
        (under_a_regular_file, "cannot write: Not a directory"),
        (its_verdict_a_directory, "gate.json is a directory"),
    ],
)
def test_a_reports_directory_that_cannot_take_the_reports_is_refused_before_anything_changes(
    env: GateEnv,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], Path],
    says: str,
) -> None:
    reports = make(tmp_path)
    code = main(
        ["gate", "--target", "fake", "--targets-file", str(env.targets_file), "--image", OLDER,
         "--checks-dir", str(ROOT / "checks"), "--reports", str(reports)]
    )  # fmt: skip
    assert code == 73
    err = capsys.readouterr().err
    assert err == f"offgridflow-runbook: error: --reports: reports directory {reports}: {says}\n"
    assert env.opened == []  # the platform was not even opened
    assert env.platform.calls == []


@pytest.mark.parametrize(
    ("checks_dir", "says"),
    [
        ("", "argument --checks-dir: must not be empty"),
        (str(ROOT), f"no checks directory at {ROOT}: it holds no pytest.ini"),
    ],
)
def test_a_checks_dir_that_is_not_the_checks_is_refused_before_anything_changes(
    env: GateEnv, capsys: pytest.CaptureFixture[str], checks_dir: str, says: str
) -> None:
    argv = ["gate", "--target", "fake", "--targets-file", str(env.targets_file), "--image", OLDER,
            "--checks-dir", checks_dir, "--reports", str(env.reports)]  # fmt: skip
    code = exit_code(argv)
    assert code == 64
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert says in err
    assert env.platform.calls == []


def test_a_verdict_that_cannot_be_written_after_the_run_is_said_not_raised(
    env: GateEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from offgridflow_runbook.gate.verdict import GateReport

    def refused(self: GateReport, path: Path, redact: Any) -> Path:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(GateReport, "write", refused)  # the directory made read-only during the run
    assert env.gate(MISSING, "--rollout-timeout", "1") == 1
    assert env.platform.template == env.platform.running == GOOD  # rolled back all the same
    captured = capsys.readouterr()
    assert f"gate: cannot write {env.reports / 'gate.json'}: Permission denied" in captured.err
    assert "Traceback" not in captured.err
    assert "gate: rejected, rolled back" in captured.out
