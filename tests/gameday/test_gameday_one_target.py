"""One target per game day: ``pytest chaos`` with every target override, through the real
``chaos/conftest.py`` (pytester), starts a real ``chaos run`` whose every activity uses the overridden
target: the scoring process and the one that breaks look at the same system.

The profile in the targets file points everywhere else (a kubeconfig that does not exist, another
context, another namespace, closed ports); the overrides point at fakes on 127.0.0.1 (the HTTP
Kubernetes API fake, an API and a Prometheus that record requests). An override lost on the way to
the child would send its activity to the profile's value, and the fakes would not see it."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from helpers import kube_fake_seed
from helpers.kube_fake_server import KubeFake, start, stop, write_kubeconfig
from helpers.local_http import serving
from offgridflow_runbook.environments.local import LOCK_HELD_ENV
from offgridflow_runbook.targets import load_target, target_fingerprint

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
NODE = "offgridflow-control-plane"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Recording(BaseHTTPRequestHandler):
    requests: list[str]

    def _answer(self) -> None:
        self.requests.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(503)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def recording() -> Iterator[tuple[tuple[str, list[str]], tuple[str, list[str]]]]:
    """Two recording servers: the API and Prometheus."""
    api: list[str] = []
    prometheus: list[str] = []
    with (
        serving(type("Api", (_Recording,), {"requests": api})) as api_url,
        serving(type("Prometheus", (_Recording,), {"requests": prometheus})) as prometheus_url,
    ):
        yield (api_url, api), (prometheus_url, prometheus)


@pytest.fixture
def kube() -> Iterator[KubeFake]:
    fake = KubeFake()
    kube_fake_seed.seed_runbook_namespace(fake)
    fake.put("api/v1", "nodes", {"kind": "Node", "metadata": {"name": NODE, "namespace": ""}})
    running = start(fake)
    fake.requests.clear()
    try:
        yield fake
    finally:
        stop(running)


EXPERIMENT = {
    "version": "1.0.0",
    "title": "one target",
    "description": "reads and guards through the overridden target",
    "configuration": {
        "target": {"type": "env", "key": "OFFGRIDFLOW_TARGET", "default": "local"},
        "gameday_dir": {"type": "env", "key": "OFFGRIDFLOW_GAMEDAY_DIR", "default": "reports/gameday/runs"},
        "mode": "one-target",
        "watch_verdicts": False,
    },
    "steady-state-hypothesis": {
        "title": "may be broken",
        "probes": [
            {
                "type": "probe",
                "name": "chaos-allowed",
                "tolerance": True,
                "provider": {
                    "type": "python",
                    "module": "offgridflow_runbook.chaos.steady_state",
                    "func": "chaos_allowed",
                    "arguments": {"target": "${target}"},
                },
            }
        ],
    },
    "method": [
        {
            "type": "probe",
            "name": "verification",
            "provider": {
                "type": "python",
                "module": "offgridflow_runbook.chaos.steady_state",
                "func": "verification_passes",
                "arguments": {"target": "${target}"},
            },
        },
        {
            "type": "action",
            "name": "guarded-rollback-with-nothing-to-undo",
            "provider": {
                "type": "python",
                "module": "offgridflow_runbook.chaos.fixes",
                "func": "fix_3_rollout_undo",
                "arguments": {"target": "${target}", "only_if_broken": True},
            },
        },
    ],
    "rollbacks": [],
}

TEST_FILE = """
import json
from pathlib import Path


def test_one_experiment(gameday):
    running = gameday.start("one-target")
    code = running.wait(90, interrupt_grace=30)
    Path("outcome.json").write_text(json.dumps({"code": code, "journal": running.journal()}))
"""


def test_pytest_chaos_with_every_override_runs_every_activity_on_the_overridden_target(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    kube: KubeFake,
    recording: tuple[tuple[str, list[str]], tuple[str, list[str]]],
) -> None:
    (api_url, api_requests), (prometheus_url, prometheus_requests) = recording
    kubeconfig = write_kubeconfig(
        pytester.path / "fake.kubeconfig", kube.url, context="kind-offgridflow", cluster="kind-offgridflow"
    )
    dead = f"http://127.0.0.1:{closed_port()}"
    targets = pytester.makefile(
        ".yaml",
        targets=json.dumps(
            {
                "targets": {
                    "fake": {
                        "platform": "kubernetes",
                        "kubeconfig": "does-not-exist.kubeconfig",
                        "kube_context": "some-other-context",
                        "namespace": "some-other-namespace",
                        "base_url": dead,
                        "prometheus_url": dead,
                        "token_env": "ONE_TARGET_TOKEN",
                        "allow_chaos": True,
                        "allow_writes": False,
                        "identity": {
                            "kind_cluster": "offgridflow",
                            "api_server": "loopback",
                            "nodes": [NODE],
                        },
                    }
                }
            }
        ),
    )
    pytester.makeconftest((ROOT / "chaos" / "conftest.py").read_text())
    (pytester.path / "experiments").mkdir()
    (pytester.path / "experiments" / "one-target.json").write_text(json.dumps(EXPERIMENT))
    pytester.makepyfile(test_one=TEST_FILE)
    monkeypatch.setenv("ONE_TARGET_TOKEN", "one-target-token")
    monkeypatch.setenv(LOCK_HELD_ENV, "1")  # the game day's stack lock: no stack is touched here
    monkeypatch.delenv("OFFGRIDFLOW_TARGETS", raising=False)
    overrides = {
        "--kubeconfig": str(kubeconfig),
        "--kube-context": "kind-offgridflow",
        "--namespace": "offgridflow",
        "--base-url": api_url,
        "--prometheus-url": prometheus_url,
    }
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:pytest-kind", "--target", "fake", "--targets-file", str(targets),
        *[part for option in overrides.items() for part in option],
        timeout=180,
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    outcome = json.loads((pytester.path / "outcome.json").read_text())
    run_dir = pytester.path / "reports" / "gameday" / "runs" / "one-target"
    output = (run_dir / "chaos-output.txt").read_text()
    assert outcome["journal"] is not None, output[-3000:]

    # the scoring process's target, with the overrides: written once, the child's only target
    expected = replace(
        load_target("fake", targets),
        kubeconfig=str(kubeconfig),
        kube_context="kind-offgridflow",
        namespace="offgridflow",
        base_url=api_url,
        prometheus_url=prometheus_url,
    )
    written = json.loads((run_dir / "target.json").read_text())
    assert {
        key: written[key] for key in ("kubeconfig", "kube_context", "namespace", "base_url", "prometheus_url")
    } == {
        "kubeconfig": str(kubeconfig),
        "kube_context": "kind-offgridflow",
        "namespace": "offgridflow",
        "base_url": api_url,
        "prometheus_url": prometheus_url,
    }
    # every activity ran and none failed on a wrong target
    runs = outcome["journal"]["steady_states"]["before"]["probes"] + outcome["journal"]["run"]
    assert [run["activity"]["name"] for run in runs] == [
        "chaos-allowed",
        "verification",
        "guarded-rollback-with-nothing-to-undo",
    ]
    assert [run["status"] for run in runs] == ["succeeded"] * 3, output[-3000:]
    assert runs[0]["output"] is True, output[-3000:]  # the identity seen through --kubeconfig/--kube-context
    assert runs[2]["output"] == "already healthy; nothing to fix"
    # the guarded activities (the steady state's, before and after the method, and the rollback's)
    # checked the same fingerprint
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    identities = [e["detail"] for e in events if e["kind"] == "identity"]
    assert [(i["activity"], i["target"], i["fingerprint"]) for i in identities] == [
        ("chaos_allowed", "fake", target_fingerprint(expected)),
        ("fix_3_rollout_undo", "fake", target_fingerprint(expected)),
        ("chaos_allowed", "fake", target_fingerprint(expected)),
    ]
    assert {i["seen"]["context"] for i in identities} == {"kind-offgridflow"}
    # --kubeconfig, --kube-context and --namespace: the fake cluster saw the node reads and the
    # verification's reads, all in the overridden namespace
    paths = [request.path.split("?")[0] for request in kube.requests]
    assert paths.count("/api/v1/nodes") == len(identities)
    namespaced = [path for path in paths if "/namespaces/" in path]
    assert namespaced
    assert all("/namespaces/offgridflow/" in path for path in namespaced)
    # --base-url and --prometheus-url: the verification read the overridden API and Prometheus
    assert any("/health/" in request for request in api_requests), api_requests
    assert any("/api/v1/query" in request for request in prometheus_requests), prometheus_requests


def test_a_changed_resolved_target_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chaoslib.exceptions import ActivityFailed

    from offgridflow_runbook.chaos import steady_state
    from offgridflow_runbook.targets import RESOLVED_TARGET_ENV, TARGET_FINGERPRINT_ENV, write_resolved_target

    target = load_target("local", ROOT / "targets.yaml")
    path = tmp_path / "target.json"
    fingerprint = write_resolved_target(target, path)
    monkeypatch.setenv(RESOLVED_TARGET_ENV, str(path))
    monkeypatch.setenv(TARGET_FINGERPRINT_ENV, fingerprint)
    configuration = {"gameday_dir": str(tmp_path), "mode": "unit"}
    # the file as written: read back as the same target
    document = json.loads(path.read_text())
    # someone (or something) edits it between the game day's start and an activity
    path.write_text(json.dumps(document | {"namespace": "elsewhere"}))
    with pytest.raises(
        ActivityFailed, match=r"^resolved target .*: refusing: its fingerprint \w+ is not the game day's"
    ):
        steady_state.verification_passes(target="local", configuration=configuration)
    path.write_text(json.dumps(document))
    with pytest.raises(ActivityFailed, match="refusing: this game day's target is 'local'"):
        steady_state.verification_passes(target="production", configuration=configuration)
