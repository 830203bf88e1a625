"""Faults made by hand with kubectl on the real kind cluster, and what `diagnose` makes of them.

Each test breaks one thing the way an engineer (or an incident) would, independently of the suite's
own driver, waits until the break is visible in the cluster, and asserts that `diagnose --target kind`
names the runbook section that fixes it, with the evidence it used. Every test puts the cluster back
and waits until the API is healthy again, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from offgridflow_runbook.environments.kind import KindSession
from offgridflow_runbook.targets import Target

pytestmark = pytest.mark.kind

NAMESPACE = "offgridflow"
DEPLOYMENT = "deployment/offgridflow-api"


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    document: dict[str, object]
    recording: Path | None = None
    description: str = ""

    @property
    def section(self) -> str:
        return str(self.document.get("section"))

    @property
    def text(self) -> str:
        return json.dumps(self.document)


def wait_until(what: str, condition: Callable[[], bool], timeout: float, interval: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(interval)


@pytest.fixture(scope="module")
def kind_target(kind_session: KindSession) -> Target:
    return kind_session.target(kind_session.settings.root / "targets.yaml")


@pytest.fixture(scope="module")
def cluster(kind_session: KindSession) -> Callable[..., str]:
    """kubectl in the runbook's namespace of the test cluster."""

    def kubectl(*args: str, timeout: float = 180) -> str:
        return kind_session.kubectl("-n", NAMESPACE, *args, timeout=timeout)

    return kubectl


# Set to a folder (e.g. tests/runbook/triage/scenarios/kind), each look these tests judge is also saved there
# with `diagnose --record` for the triage corpus, once the test has asserted its verdict.
RECORD_ENV = "OFFGRIDFLOW_RECORD_SCENARIOS"


def diagnose(kind_session: KindSession, scenario: str | None = None, description: str = "") -> Verdict:
    """`offgridflow-runbook diagnose --target kind --json` as a user runs it."""
    environ = {**os.environ, "KUBECONFIG": str(kind_session.settings.kubeconfig)}
    command = [
        str(Path(sys.executable).parent / "offgridflow-runbook"),
        "diagnose",
        "--target",
        "kind",
        "--json",
    ]
    folder = os.environ.get(RECORD_ENV)
    recording = Path(folder).resolve() / f"{scenario}.json" if folder and scenario else None
    if recording is not None:
        recording.parent.mkdir(parents=True, exist_ok=True)
        command += ["--record", str(recording)]
    result = subprocess.run(
        command,
        cwd=kind_session.settings.root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    verdict = Verdict(result.returncode, json.loads(result.stdout), recording, description)
    return verdict


def keep_recording(verdict: Verdict) -> None:
    """After a test asserted the verdict: label its recording with the verdict it must get."""
    if verdict.recording is None or not verdict.recording.exists():
        return
    raw = json.loads(verdict.recording.read_text())
    raw["scenario"] = {
        "name": verdict.recording.stem,
        "description": verdict.description,
        "origin": "recorded on the kind cluster by tests/kind/test_kind_diagnose.py "
        f"({RECORD_ENV}); the test asserted the outcome and the first section",
        "expected": {
            "outcome": verdict.document.get("outcome"),
            "sections": [c["section"] for c in verdict.document.get("candidates", [])],  # type: ignore[attr-defined]
        },
    }
    verdict.recording.write_text(json.dumps(raw, indent=1) + "\n")


def api_ready(kind_target: Target) -> bool:
    try:
        return httpx.get(f"{kind_target.base_url}/health/ready", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def healthy(kind_session: KindSession, kind_target: Target, cluster: Callable[..., str]) -> Iterator[None]:
    """The API rolled out and ready before the test, and again after it (whatever it broke), and
    triage's all-clear before it: an earlier test's alert and log lines must be gone first."""
    cluster("rollout", "status", DEPLOYMENT, "--timeout=240s", timeout=260)
    wait_until("the API answers ready", lambda: api_ready(kind_target), 180)
    wait_until("diagnose says healthy", lambda: diagnose(kind_session).exit_code == 0, 240, interval=5)
    yield
    cluster("rollout", "status", DEPLOYMENT, "--timeout=240s", timeout=260)
    cluster("rollout", "status", "statefulset/postgres", "--timeout=240s", timeout=260)
    wait_until("the API answers ready again", lambda: api_ready(kind_target), 240)


def pods(cluster: Callable[..., str], app: str = "offgridflow-api") -> list[dict[str, object]]:
    return list(json.loads(cluster("get", "pods", "-l", f"app={app}", "-o", "json"))["items"])


def container_statuses(cluster: Callable[..., str]) -> list[dict[str, object]]:
    return [
        status
        for pod in pods(cluster)
        for status in pod.get("status", {}).get("containerStatuses", [])  # type: ignore[union-attr]
    ]


def reasons(cluster: Callable[..., str], state: str) -> set[str]:
    """The reasons of the API containers' ``state`` ("state.waiting", "lastState.terminated")."""
    where, kind = state.split(".")
    return {
        str((status.get(where, {}).get(kind) or {}).get("reason"))  # type: ignore[union-attr]
        for status in container_statuses(cluster)
    }


def assert_diagnosed(
    kind_session: KindSession, section: str, mentions: str, scenario: str, description: str
) -> None:
    """diagnose exits 2 (a problem diagnosed), names ``section`` and shows ``mentions`` as evidence.

    Asked again (bounded, 90 s) while it names another section: right after a restart kubelet may not
    find the previous container's log yet, and triage then says, tentatively, what it can see."""
    deadline = time.monotonic() + 90
    verdict = diagnose(kind_session, scenario, description)
    while verdict.section != section and time.monotonic() < deadline:
        time.sleep(5)
        verdict = diagnose(kind_session, scenario, description)
    assert verdict.exit_code == 2, verdict.text
    assert verdict.section == section, verdict.text
    assert mentions in verdict.text, verdict.text
    keep_recording(verdict)


@pytest.mark.usefixtures("healthy")
def test_the_healthy_cluster_is_diagnosed_healthy(kind_session: KindSession) -> None:
    verdict = diagnose(kind_session, "healthy", "the kind cluster after make kind-up, nothing broken")
    assert (verdict.exit_code, verdict.document["cause"]) == (0, "healthy"), verdict.text
    keep_recording(verdict)


@pytest.mark.usefixtures("healthy")
def test_a_memory_limit_below_use_is_an_oom_kill_and_names_fix_2(
    kind_session: KindSession, cluster: Callable[..., str]
) -> None:
    cluster("set", "resources", DEPLOYMENT, "-c", "api", "--limits=memory=40Mi", "--requests=memory=40Mi")
    try:
        wait_until(
            "a new API container was OOM-killed",
            lambda: "OOMKilled" in reasons(cluster, "lastState.terminated"),
            240,
        )
        assert_diagnosed(
            kind_session, "Fix 2", "OOMKilled", "oom", "API memory limit set to 40Mi: the kernel OOM-kills it"
        )
    finally:
        cluster("rollout", "undo", DEPLOYMENT)


@pytest.mark.usefixtures("healthy")
def test_a_missing_image_tag_is_a_real_pull_failure_and_names_fix_4(
    kind_session: KindSession, cluster: Callable[..., str]
) -> None:
    cluster("set", "image", DEPLOYMENT, "api=ghcr.io/your-org/offgridflow-api:v9.9.9-missing")
    try:
        wait_until(
            "the kubelet failed to pull the missing tag",
            lambda: bool({"ErrImagePull", "ImagePullBackOff"} & reasons(cluster, "state.waiting")),
            180,
        )
        assert_diagnosed(
            kind_session,
            "Fix 4",
            "v9.9.9-missing",
            "image-pull",
            "a tag missing from the registry kind pulls from",
        )
    finally:
        cluster("rollout", "undo", DEPLOYMENT)


@pytest.mark.usefixtures("healthy")
def test_a_bad_configmap_value_rolled_out_crash_loops_and_names_fix_3(
    kind_session: KindSession, cluster: Callable[..., str]
) -> None:
    deployment = json.loads(cluster("get", DEPLOYMENT, "-o", "json"))
    config_map = next(
        source["configMapRef"]["name"]
        for container in deployment["spec"]["template"]["spec"]["containers"]
        if container["name"] == "api"
        for source in container.get("envFrom", [])
        if "configMapRef" in source
    )
    # A new ConfigMap with one bad key, and the Deployment pointed at it: the change a hashed
    # configMapGenerator rolls out.
    original = json.loads(cluster("get", "configmap", config_map, "-o", "json"))
    broken = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{config_map}-broken", "namespace": NAMESPACE},
        "data": {**original["data"], "OFFGRIDFLOW_DB_POOL_MAX": "lots"},
    }
    subprocess.run(
        [
            str(kind_session.cluster.kubectl_path),
            "--kubeconfig",
            str(kind_session.settings.kubeconfig),
            "apply",
            "-f",
            "-",
        ],
        input=json.dumps(broken),
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )
    patch = [
        {
            "op": "replace",
            "path": f"/spec/template/spec/containers/{index}/envFrom/{source_index}/configMapRef/name",
            "value": f"{config_map}-broken",
        }
        for index, container in enumerate(deployment["spec"]["template"]["spec"]["containers"])
        for source_index, source in enumerate(container.get("envFrom", []))
        if source.get("configMapRef", {}).get("name") == config_map
    ]
    cluster("patch", DEPLOYMENT, "--type=json", "-p", json.dumps(patch))
    try:
        wait_until(
            "a new API container crashed on the bad value",
            lambda: any(int(status.get("restartCount", 0)) >= 1 for status in container_statuses(cluster)),  # type: ignore[call-overload]
            240,
        )
        assert_diagnosed(
            kind_session,
            "Fix 3",
            "OFFGRIDFLOW_DB_POOL_MAX",
            "config-crash",
            "a new ConfigMap with OFFGRIDFLOW_DB_POOL_MAX=lots rolled out: the new pods crash-loop",
        )
    finally:
        cluster("rollout", "undo", DEPLOYMENT)
        cluster("rollout", "status", DEPLOYMENT, "--timeout=240s", timeout=260)
        cluster("delete", "configmap", f"{config_map}-broken", "--ignore-not-found")


@pytest.mark.usefixtures("healthy")
def test_the_database_scaled_to_zero_names_fix_1(
    kind_session: KindSession, cluster: Callable[..., str]
) -> None:
    cluster("scale", "statefulset/postgres", "--replicas=0")
    try:
        wait_until("no postgres pod is left", lambda: not pods(cluster, "postgres"), 120)
        assert_diagnosed(
            kind_session,
            "Fix 1",
            "postgres",
            "db-pod-missing",
            "StatefulSet postgres scaled to 0: no database pod",
        )
    finally:
        cluster("scale", "statefulset/postgres", "--replicas=1")


@pytest.mark.usefixtures("healthy")
def test_a_service_selector_that_matches_nothing_names_triage_2d(
    kind_session: KindSession, cluster: Callable[..., str]
) -> None:
    cluster(
        "patch", "service", "offgridflow-api-service", "-p", '{"spec":{"selector":{"app":"no-such-app"}}}'
    )
    try:
        wait_until(
            "the Service has no endpoints",
            lambda: (
                not json.loads(cluster("get", "endpoints", "offgridflow-api-service", "-o", "json")).get(
                    "subsets"
                )
            ),
            60,
        )
        verdict = diagnose(
            kind_session, "no-endpoints", "offgridflow-api-service's selector matches no pod: no endpoints"
        )
        assert verdict.exit_code in {2, 3}, verdict.text
        assert verdict.section == "Triage 2D", verdict.text
        assert "endpoints" in verdict.text.lower()
        keep_recording(verdict)
    finally:
        cluster(
            "patch",
            "service",
            "offgridflow-api-service",
            "-p",
            '{"spec":{"selector":{"app":"offgridflow-api"}}}',
        )
