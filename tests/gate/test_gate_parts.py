"""The gate's parts on their own: image references, the checks' runs that cannot judge, drift that
was already there, and a candidate whose gate breaks half-way (rolled back all the same)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from helpers.gate_fakes import GOOD, OLDER, RollingPlatform
from offgridflow_runbook.gate.judge import CheckReports, PytestChecks, drift_failures
from offgridflow_runbook.gate.reference import image_reference
from offgridflow_runbook.gate.runner import GateSettings, PullWatch, run_gate
from offgridflow_runbook.platforms import Workload
from offgridflow_runbook.runbook import load_runbook
from offgridflow_runbook.runbook.drift import DriftReport, DriftResult, Outcome
from offgridflow_runbook.targets import Target

# as checks/pytest.ini: pytest-kind's plugin would clash with the suite's --kubeconfig
QUIET_INI = "[pytest]\naddopts = -p no:pytest-kind -p no:cacheprovider\n"


@pytest.mark.parametrize(
    "reference",
    [
        "ghcr.io/your-org/offgridflow-api:v1.3.1",
        "127.0.0.1:5000/offgridflow-api:v1.3.1-broken-activities",
        "localhost:5001/your-org/offgridflow-api:candidate-0123abcd",
        "offgridflow-api:v1",
        "registry.example.com/a/b/c@sha256:" + "ab" * 32,
        "ghcr.io/your-org/offgridflow-api:v1.3.1@sha256:" + "0f" * 32,
    ],
)
def test_image_references_with_a_tag_or_digest_are_taken(reference: str) -> None:
    assert image_reference(reference) == reference


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("ghcr.io/your-org/offgridflow-api", "names no tag or digest"),
        ("", "is not an image reference"),
        ("ghcr.io/your-org/offgridflow-api:", "is not an image reference"),
        ("ghcr.io/Your-Org/api:v1", "is not an image reference"),
        ("api:v1; rm -rf /", "is not an image reference"),
        ("api@sha256:abc", "is not an image reference"),
    ],
)
def test_other_references_are_refused_with_the_reason(reference: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        image_reference(reference)


def test_a_checks_run_that_collects_nothing_is_a_failure_not_a_pass(tmp_path: Path) -> None:
    empty = tmp_path / "checks"
    empty.mkdir()
    (empty / "pytest.ini").write_text(QUIET_INI)
    failures = PytestChecks(empty, [], timeout=120).run(CheckReports.under(tmp_path / "reports"))
    assert [(f.by, f.step) for f in failures] == [("checks", "checks")]
    assert "no checks collected" in failures[0].message


def test_a_checks_run_past_its_bound_is_a_failure(tmp_path: Path) -> None:
    slow = tmp_path / "checks"
    slow.mkdir()
    (slow / "pytest.ini").write_text(QUIET_INI)
    (slow / "test_slow.py").write_text("import time\n\ndef test_slow():\n    time.sleep(30)\n")
    failures = PytestChecks(slow, [], timeout=2).run(CheckReports.under(tmp_path / "reports"))
    assert [f.message for f in failures] == ["the checks did not finish within 2 s"]


def drift_report(outcomes: dict[int, str]) -> DriftReport:
    commands = load_runbook().commands
    results = tuple(DriftResult(c, outcomes.get(c.line, Outcome.PASSED), "seen") for c in commands)
    return DriftReport("fake", "offgridflow-api-down.md", results)


def test_drift_already_there_is_a_finding_and_only_new_drift_fails_the_candidate() -> None:
    commands = load_runbook().commands
    old, new = commands[0], next(c for c in commands if c.step == "Verification 3")
    before = drift_report({old.line: Outcome.DRIFT})
    after = drift_report({old.line: Outcome.DRIFT, new.line: Outcome.DRIFT})
    failures, findings = drift_failures(before, after)
    assert [(f.by, f.step, f.where) for f in failures] == [
        ("drift", "Verification 3", f"offgridflow-api-down.md:{new.line}")
    ]
    assert len(findings) == 1
    assert f":{old.line} " in findings[0]


class BreaksAfterSettingTheImage(RollingPlatform):
    def set_image(self, image: str) -> None:
        super().set_image(image)
        raise RuntimeError("the connection dropped after the patch")


def test_a_gate_that_breaks_after_the_image_was_set_still_rolls_back(tmp_path: Path) -> None:
    platform = BreaksAfterSettingTheImage()
    target = Target("fake", "none", "http://127.0.0.1:9", allow_writes=True)
    said: list[str] = []
    report = run_gate(
        target, OLDER, platform=platform, checks=PytestChecks(tmp_path, [], 1), runbook=load_runbook(),
        reports_dir=tmp_path / "reports", settings=GateSettings(rollback_timeout=0.5, drift_timeout=1),
        say=said.append,
    )  # fmt: skip
    assert [(f.by, f.step) for f in report.failures] == [("gate", "gate")]
    assert "the connection dropped after the patch" in report.failures[0].message
    assert platform.calls.count("rollout_undo") == 1
    assert platform.template == GOOD
    assert report.rollback is not None
    # nothing answers on 127.0.0.1:9, so Verification 2-4 cannot pass: the rollback is not confirmed
    assert report.exit_code == 3
    assert (tmp_path / "reports" / "gate.json").exists()


def instance(image: str, reason: str | None, message: str | None = None) -> list[Workload]:
    """The API's one new instance as api_workloads() gives it: running, or waiting for ``reason``."""
    phase = "Running" if reason is None else "Pending"
    return [Workload("api-new", "offgridflow-api", phase, reason is None, 0, image, reason, message)]


def test_a_failing_pull_is_given_its_grace_and_a_pull_that_recovers_starts_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr("offgridflow_runbook.gate.runner.time.monotonic", lambda: now[0])
    watch = PullWatch(OLDER, grace=30.0)
    assert watch.verdict(instance(OLDER, "ErrImagePull", "manifest unknown")) is None  # the kubelet retries
    now[0] += 29.9
    assert watch.verdict(instance(OLDER, "ImagePullBackOff", "Back-off")) is None  # inside the grace
    assert watch.verdict(instance(OLDER, None)) is None  # it pulled after all
    now[0] += 10
    assert watch.verdict(instance(OLDER, "ImagePullBackOff")) is None  # a new failure: a new grace
    now[0] += 30
    assert watch.verdict(instance(OLDER, "ImagePullBackOff")) == (
        "the candidate's image cannot be pulled (ImagePullBackOff on api-new for 30 s)"
    )


@pytest.mark.parametrize("reason", ["InvalidImageName", "ErrImageNeverPull"])
def test_an_image_no_retry_can_pull_is_rejected_at_once(reason: str) -> None:
    watch = PullWatch(OLDER, grace=300.0)
    assert watch.verdict(instance(OLDER, reason, "couldn't parse image name")) == (
        f"the candidate's image cannot be pulled ({reason} on api-new for 0 s: couldn't parse image name)"
    )


def test_the_old_image_failing_to_pull_is_not_the_candidates_failure() -> None:
    assert PullWatch(OLDER, grace=0.0).verdict(instance(GOOD, "ImagePullBackOff")) is None
