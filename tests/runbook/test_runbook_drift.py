"""System -> runbook: the runbook's read-only commands run against a target; what no longer exists or
answers differently is drift with the runbook's line, what cannot be seen is unknown, and nothing
that changes the system is ever run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.drift_fakes import TOKEN, fake_api, kubectl_calls, write_fake_kubectl
from offgridflow_runbook.cli import main
from offgridflow_runbook.runbook import Runbook, load_runbook
from offgridflow_runbook.runbook.drift import DriftReport, Outcome, drift
from offgridflow_runbook.targets import Target


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DRIFT_TEST_TOKEN", TOKEN)
    return TOKEN


def docker_target(base_url: str) -> Target:
    return Target(
        name="fake-docker", platform="docker", base_url=base_url, metrics_url=f"{base_url}/metrics",
        token_env="DRIFT_TEST_TOKEN",
    )  # fmt: skip


def by_line(report: DriftReport) -> dict[int, tuple[str, str]]:
    return {r.command.line: (r.outcome, r.message) for r in report.results}


def test_on_docker_curl_lines_run_against_the_targets_urls_and_kubectl_is_not_applicable(token: str) -> None:
    runbook = load_runbook()
    with fake_api() as base_url:
        report = drift(runbook, docker_target(base_url), timeout=5)
    outcomes = {r.command.text: r.outcome for r in report.results}
    curl_lines = [c.text for c in runbook.commands if c.program == "curl"]
    assert {outcomes[line] for line in curl_lines} == {Outcome.PASSED}
    assert len(curl_lines) == 4
    kubectl_read = [c.text for c in runbook.commands if c.program == "kubectl" and c.read_only]
    assert {outcomes[line] for line in kubectl_read} == {Outcome.NOT_APPLICABLE}
    changing = [c.text for c in runbook.commands if not c.read_only]
    assert {outcomes[line] for line in changing} == {Outcome.NOT_RUN}
    assert report.exit_code == 0
    assert by_line(report)[183][1] == 'HTTP 200, 1 line(s) of output, as expected: {"status":"healthy"...}'
    assert next(r.ran for r in report.results if r.command.line == 183) == f"curl {base_url}/health/ready"
    # the token reached the API (Verification 3 passed) but no report shows it
    assert TOKEN not in report.table() + json.dumps(report.as_dict())
    assert "'Authorization: Bearer $TOKEN'" in next(r.ran for r in report.results if r.command.line == 187)


def test_a_path_that_no_longer_exists_is_drift_with_the_runbook_line(token: str) -> None:
    with fake_api({"/health/ready": (404, '{"detail":"Not Found"}')}) as base_url:
        report = drift(load_runbook(), docker_target(base_url), timeout=5)
    assert by_line(report)[183] == (Outcome.DRIFT, "HTTP 404: the path no longer exists")
    assert report.exit_code == 1
    assert (
        "offgridflow-api-down.md:183  Verification 2  DRIFT  curl http://api.offgridflow.com/health/ready"
        in (report.table())
    )


def test_an_expected_shape_not_seen_is_drift(token: str) -> None:
    answers = {
        "/health/ready": (200, '{"status":"degraded"}'),
        "/metrics": (200, "process_cpu_seconds_total 1.0\n"),
        "/v1/activities?limit=1": (200, '{"count": 0}'),
    }
    with fake_api(answers) as base_url:
        lines = by_line(drift(load_runbook(), docker_target(base_url), timeout=5))
    assert lines[183] == (
        Outcome.DRIFT,
        """Expected {"status":"healthy"...}; the answer is '{"status":"degraded"}'""",
    )
    assert lines[187] == (
        Outcome.DRIFT,
        "Expected 200 OK with activity data; the answer holds no list of activities",
    )
    assert lines[192] == (Outcome.DRIFT, "HTTP 200, but no line matches `grep http_requests_total`")


def test_an_unreachable_target_is_unknown_never_drift(token: str) -> None:
    with fake_api() as base_url:
        pass  # the port is closed again
    report = drift(load_runbook(), docker_target(base_url), timeout=5)
    assert {r.outcome for r in report.results if r.command.program == "curl"} == {Outcome.UNKNOWN}
    assert by_line(report)[26][1].startswith("could not reach the target: curl: (7)")
    assert report.exit_code == 3


def test_without_a_token_the_authorized_call_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFT_TEST_TOKEN", raising=False)
    with fake_api() as base_url:
        lines = by_line(drift(load_runbook(), docker_target(base_url), timeout=5))
    assert lines[187] == (Outcome.UNKNOWN, "no bearer token: $DRIFT_TEST_TOKEN is not set")


# -- Kubernetes, with a fake kubectl -------------------------------------------------------------------
@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str) -> Iterator[tuple[Target, Path]]:
    log = tmp_path / "kubectl.log"
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(log))
    monkeypatch.setenv("KUBECTL", str(write_fake_kubectl(tmp_path)))
    with fake_api() as base_url:
        target = Target(
            name="fake-kube", platform="kubernetes", base_url=base_url, metrics_url=f"{base_url}/metrics",
            kube_context="ctx-a", kubeconfig=str(tmp_path / "kubeconfig"), namespace="shop",
            token_env="DRIFT_TEST_TOKEN",
        )  # fmt: skip
        yield target, log


def test_a_hashed_configmap_is_drift_with_the_runbook_line(kube: tuple[Target, Path]) -> None:
    target, _ = kube
    report = drift(load_runbook(), target, timeout=5)
    assert by_line(report)[149] == (
        Outcome.DRIFT,
        "the runbook's name no longer exists: "
        'Error from server (NotFound): configmaps "offgridflow-config" not found',
    )
    assert report.exit_code == 1


def test_kubectl_lines_are_judged_by_what_they_show(kube: tuple[Target, Path]) -> None:
    target, _ = kube
    lines = by_line(drift(load_runbook(), target, timeout=5))
    assert lines[29] == (Outcome.PASSED, "exit 0, 2 line(s) of output")
    assert lines[48] == (Outcome.PASSED, "no previous container: nothing restarted")
    assert lines[69] == (Outcome.UNKNOWN, "could not see: error: Metrics API not available")
    assert lines[78][0] == Outcome.DRIFT
    assert lines[78][1].startswith("matches nothing: No resources found in shop namespace.")
    assert lines[105] == (Outcome.PASSED, "exists (values not shown)")
    assert lines[121] == (Outcome.PASSED, "exit 0; `grep OOMKilled` matches nothing (symptom absent)")
    assert lines[72] == (Outcome.PASSED, "exit 0, 2 line(s) of output")  # grep -A 5 "Limits"


def test_kubectl_gets_the_targets_namespace_context_kubeconfig_and_only_reads(
    kube: tuple[Target, Path],
) -> None:
    target, log = kube
    runbook: Runbook = load_runbook()
    drift(runbook, target, timeout=5)
    calls = kubectl_calls(log)
    read_only_kubectl = [c for c in runbook.commands if c.program == "kubectl" and c.read_only]
    assert len(calls) == len(read_only_kubectl)
    for call in calls:
        assert "--context=ctx-a" in call
        assert f"--kubeconfig={target.kubeconfig}" in call
        assert "offgridflow" not in [call[i + 1] for i, a in enumerate(call[:-1]) if a == "-n"]
    verbs = {" ".join(a for a in call if not a.startswith("-"))[:16] for call in calls}
    assert not any(word in " ".join(verbs) for word in ("restart", "undo", "patch", "set image", "delete"))
    exec_call = next(call for call in calls if call[0] == "exec")
    # options go before `--`: what follows is the container's command, as the runbook wrote it
    assert exec_call[exec_call.index("--") :] == ["--", "pg_isready", "-h", "postgres-service", "-p", "5432"]
    wait_call = next(call for call in calls if call[0] == "wait")
    assert "--timeout=5s" in wait_call


def test_no_kubectl_binary_is_unknown(kube: tuple[Target, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    target, _ = kube
    report = drift(load_runbook(), target, kubectl="/nonexistent/kubectl", timeout=5)
    assert by_line(report)[29] == (
        Outcome.UNKNOWN,
        "could not see: /nonexistent/kubectl: No such file or directory",
    )


# -- the command ---------------------------------------------------------------------------------------
def test_the_drift_command_prints_each_line_and_exits_1_on_drift(
    kube: tuple[Target, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target, _ = kube
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        f"targets:\n  k:\n    platform: kubernetes\n    base_url: {target.base_url}\n"
        f"    metrics_url: {target.metrics_url}\n    namespace: shop\n    kube_context: ctx-a\n"
        "    token_env: DRIFT_TEST_TOKEN\n"
    )
    assert main(["drift", "--target", "k", "--targets-file", str(targets), "--timeout", "5"]) == 1
    out = capsys.readouterr().out
    assert "offgridflow-api-down.md:149  Fix 3  DRIFT  kubectl get configmap offgridflow-config" in out
    assert out.splitlines()[-1].startswith("drift of target 'k' from offgridflow-api-down.md: 2 drift,")
    assert TOKEN not in out
