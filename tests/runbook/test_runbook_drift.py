"""System -> runbook: the runbook's read-only commands run against a target; what no longer exists or
answers differently is drift with the runbook's line, what cannot be seen is unknown, and nothing
that changes the system is ever run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from helpers.drift_fakes import TOKEN, Seen, fake_api, kubectl_calls, processes_with, write_fake_kubectl
from helpers.kube_fake_environment import KubeFakeEnvironment
from helpers.kube_fake_server import KubeFake, start, stop, write_kubeconfig
from offgridflow_runbook.cli import main
from offgridflow_runbook.runbook import Command, Runbook, load_runbook
from offgridflow_runbook.runbook.allowlist import NotReadOnly, read_only
from offgridflow_runbook.runbook.drift import DriftReport, Outcome, Ran, drift, run_subprocess
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


def allowed(command: Command) -> bool:
    """The line is one of the shapes drift may run."""
    try:
        read_only(command.text)
    except NotReadOnly:
        return False
    return True


def test_on_docker_curl_lines_run_against_the_targets_urls_and_kubectl_is_not_applicable(token: str) -> None:
    runbook = load_runbook()
    with fake_api() as base_url:
        report = drift(runbook, docker_target(base_url), timeout=5)
    outcomes = {r.command.text: r.outcome for r in report.results}
    curl_lines = [c.text for c in runbook.commands if c.program == "curl"]
    assert {outcomes[line] for line in curl_lines} == {Outcome.PASSED}
    assert len(curl_lines) == 4
    kubectl_read = [c.text for c in runbook.commands if c.program == "kubectl" and allowed(c)]
    assert {outcomes[line] for line in kubectl_read} == {Outcome.NOT_APPLICABLE}
    refused = [c.text for c in runbook.commands if not allowed(c)]
    assert {outcomes[line] for line in refused} == {Outcome.NOT_RUN}
    assert (
        by_line(report)[92][1]
        == "not read-only: kubectl rollout restart is not a read-only command drift knows"
    )
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
    read_only_kubectl = [c for c in runbook.commands if c.program == "kubectl" and allowed(c)]
    assert len(calls) == len(read_only_kubectl)
    for call in calls:
        assert "--context=ctx-a" in call
        assert f"--kubeconfig={target.kubeconfig}" in call
        assert "offgridflow" not in [call[i + 1] for i, a in enumerate(call[:-1]) if a == "-n"]
    verbs = {" ".join(a for a in call if not a.startswith("-"))[:16] for call in calls}
    assert not any(word in " ".join(verbs) for word in ("restart", "undo", "patch", "set image", "delete"))
    # exec starts a process in a container: never run by drift
    assert not [call for call in calls if "exec" in call]
    # the waiting verbs wait no longer than drift's timeout (the runbook's wait says 300 s)
    waits = [call for call in calls if call[0] == "wait" or call[:2] == ["rollout", "status"]]
    assert len(waits) == 3
    assert all("--timeout=5s" in call and "--timeout=300s" not in call for call in waits)


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


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-5", "0.5", "601", "soon"])
def test_a_bad_timeout_is_one_line_and_exit_64(timeout: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["drift", "--target", "local", "--timeout", timeout])
    assert exited.value.code == 64
    error = capsys.readouterr().err
    assert error.splitlines()[-1].startswith("offgridflow-runbook drift: error: argument --timeout:")
    assert "Traceback" not in error


# -- read-only by construction -------------------------------------------------------------------------
API = "http://api.offgridflow.com"
ANCHOR = f"curl -f {API}/health/live\n"
# lines a runbook might gain, each of which would change something or write a file if run; relative
# paths land in the test's own directory (the test runs there)
HOSTILE_LINES = [
    f"curl -XPOST {API}/v1/activities",
    f"curl -sXDELETE {API}/v1/activities/1",
    f"curl -X PUT {API}/v1/activities/1",
    f"curl -d '{{}}' {API}/v1/activities",
    f"curl -o curl-o {API}/health/live",
    f'curl "--output=curl-output" {API}/health/live',
    f"curl -K curl-config {API}/health/live",
    f"curl {API}:8081/metrics | sort -o sorted",
    f"curl {API}/health/live | tee teed",
    f"curl {API}/health/live > redirected",
    "kubectl --cache-dir get delete pod postgres-0",
    "kubectl --kubeconfig=other-kubeconfig delete pod postgres-0",
    "KUBECONFIG=other-kubeconfig kubectl delete pod postgres-0",
    "kubectl get pods -l app=postgres -o name | xargs kubectl delete",
    "kubectl get pods -o name | xargs -n1 kubectl delete",
]
HEAD_LINE = f"curl -I {API}/health/live"


@pytest.fixture
def hostile_runbook(
    runbook_copy: Callable[[str, str], Runbook], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Runbook:
    """The project's runbook with the hostile lines (and a HEAD request) in Triage 1; the working
    directory is the test's, holding a curl config that would send DELETE if curl read it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "curl-config").write_text('request = "DELETE"\n')
    return runbook_copy(ANCHOR, ANCHOR + "".join(f"{line}\n" for line in [*HOSTILE_LINES, HEAD_LINE]))


def test_hostile_lines_are_reported_not_run_with_the_reason_and_do_not_count_as_drift(
    hostile_runbook: Runbook, token: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[Seen] = []
    with fake_api(seen=seen) as base_url:
        target = replace(docker_target(base_url), allow_writes=True)
        report = drift(hostile_runbook, target, timeout=5)
    results = {r.command.text: r for r in report.results}
    for line in HOSTILE_LINES:
        assert results[line].outcome == Outcome.NOT_RUN, line
        assert results[line].message.startswith("not read-only: "), results[line].message
        assert results[line].ran == ""
    assert (
        results[HOSTILE_LINES[1]].message
        == "not read-only: curl -X DELETE sends DELETE (drift sends GET or HEAD)"
    )
    assert results[HOSTILE_LINES[10]].message == "not read-only: kubectl --cache-dir writes files"
    # allow_writes: true, so the HEAD request was sent (the fake answers 405 to all but GET)
    assert results[HEAD_LINE].outcome == Outcome.DRIFT
    assert {s.method for s in seen} == {"GET", "HEAD"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curl-config", "runbook.md"]
    without_head = replace(report, results=tuple(r for r in report.results if r.command.text != HEAD_LINE))
    assert without_head.exit_code == 0  # not run is not drift
    assert without_head.count(Outcome.NOT_RUN) == len(HOSTILE_LINES) + 8
    table = report.table()
    assert (
        f"runbook.md:{results[HOSTILE_LINES[0]].command.line}  Triage 1  NOT RUN  {HOSTILE_LINES[0]}" in table
    )
    assert "    not read-only: curl -X POST sends POST (drift sends GET or HEAD)" in table


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not found on PATH: this test runs the real binary")
def test_on_a_target_without_writes_only_get_requests_leave_the_suite(
    hostile_runbook: Runbook, token: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real kubectl against an HTTP Kubernetes API fake, curl against a fake API: both record
    every request; with the project's runbook and the hostile lines, every one is a GET."""
    monkeypatch.setenv("KUBECACHEDIR", str(tmp_path / "kube-cache"))
    fake = KubeFake()
    running = start(fake)
    environment = KubeFakeEnvironment(fake, write_kubeconfig(tmp_path / "kubeconfig", fake.url))
    seen: list[Seen] = []
    try:
        environment.seed_runbook_namespace()
        environment.add_api_pod("offgridflow-api-1")
        with fake_api(seen=seen) as base_url:
            target = replace(
                environment.target, base_url=base_url, metrics_url=f"{base_url}/metrics",
                token_env="DRIFT_TEST_TOKEN", allow_writes=False, allow_chaos=False,
            )  # fmt: skip
            report = drift(hostile_runbook, target, kubectl=KUBECTL, timeout=10)
    finally:
        environment.close()
        stop(running)
    results = {r.command.text: r for r in report.results}
    assert results[HEAD_LINE].outcome == Outcome.NOT_RUN
    assert "allow_writes: false drift sends only GET" in results[HEAD_LINE].message
    # the read lines ran: pods listed, logs read, and the four curl lines answered
    assert fake.find("GET", "/namespaces/offgridflow/pods"), [r.path for r in fake.requests]
    assert len(seen) == 4
    assert {s.method for s in seen} == {"GET"}
    assert [(r.method, r.path) for r in fake.requests if r.method != "GET"] == []
    assert fake.writes() == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "curl-config",
        "kube-cache",
        "kubeconfig",
        "runbook.md",
    ]


def test_the_token_reaches_curl_on_stdin_never_on_a_command_line(token: str) -> None:
    # the scan sees a command line that holds the token (so an empty scan below means something)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)", TOKEN]) as holder:
        try:
            deadline = time.monotonic() + 5  # until the child has exec'd
            while not processes_with(TOKEN) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert any(TOKEN in line for line in processes_with(TOKEN))
        finally:
            holder.kill()
    calls: list[tuple[list[str], str | None]] = []

    def recording(argv: Sequence[str], stdin: str | None, timeout: float) -> Ran:
        calls.append((list(argv), stdin))
        return run_subprocess(argv, stdin, timeout)

    seen: list[Seen] = []
    with fake_api(seen=seen) as base_url:
        report = drift(load_runbook(), docker_target(base_url), run=recording, timeout=5)
    assert by_line(report)[187][0] == Outcome.PASSED
    # it arrived as the Authorization header ...
    (activities,) = [s for s in seen if s.path.startswith("/v1/")]
    assert activities.authorization == f"Bearer {TOKEN}"
    # ... and while curl ran, no process on this machine had it in its command line
    assert [s.token_in_argv for s in seen] == [()] * len(seen)
    assert len(seen) == 4
    assert not [argv for argv, _ in calls if any(TOKEN in arg for arg in argv)]
    ((argv, stdin),) = [(argv, stdin) for argv, stdin in calls if stdin and TOKEN in stdin]
    assert argv[0] == "curl"
    assert argv[-3:-1] == ["-H", "@-"]
    assert stdin == f"Authorization: Bearer {TOKEN}\n"


def test_the_runbooks_waiting_lines_wait_side_by_side_and_the_results_keep_the_runbooks_order(
    kube: tuple[Target, Path],
) -> None:
    # A stuck rollout makes each `rollout status` line wait out its whole bound; the runner lets
    # such a wait end only once the other one is waiting too (a barrier), so one at a time would fail.
    target, _ = kube
    both_waiting = threading.Barrier(2, timeout=10)

    def waits_for_the_other(argv: Sequence[str], stdin: str | None, timeout: float) -> Ran:
        if argv[1:3] == ["rollout", "status"]:
            try:
                both_waiting.wait()
            except threading.BrokenBarrierError:
                return Ran(1, "", "error: waited alone")
            return Ran(1, "", "error: timed out waiting for the condition")
        return run_subprocess(argv, stdin, timeout)

    runbook = load_runbook()
    waiting_lines = [c.line for c in runbook.commands if "rollout status" in c.text]
    assert len(waiting_lines) == 2, "the runbook's waiting lines changed: this test assumes two"
    report = drift(runbook, target, run=waits_for_the_other, timeout=5)
    assert [r.command.line for r in report.results] == [c.line for c in runbook.commands]
    for line in waiting_lines:
        outcome, message = by_line(report)[line]
        assert outcome == Outcome.UNKNOWN
        assert "timed out waiting for the condition" in message, message


def test_one_at_a_time_is_a_choice_and_fewer_than_one_is_refused(kube: tuple[Target, Path]) -> None:
    target, _ = kube
    in_flight: list[int] = [0, 0]  # now, most
    lock = threading.Lock()

    def counting(argv: Sequence[str], stdin: str | None, timeout: float) -> Ran:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
        try:
            return run_subprocess(argv, stdin, timeout)
        finally:
            with lock:
                in_flight[0] -= 1

    drift(load_runbook(), target, run=counting, timeout=5, at_once=1)
    assert in_flight == [0, 1]
    with pytest.raises(ValueError, match="at least 1"):
        drift(load_runbook(), target, run=counting, at_once=0)
