"""Faults made by hand with kubectl on the real kind cluster, and what `diagnose` makes of them.

Each test breaks one thing the way an engineer (or an incident) would, independently of the suite's
own driver, waits until the break is visible in the cluster, and asserts that `diagnose --target kind`
names the runbook section that fixes it, with the evidence it used. Every test puts the cluster back
and waits until the API is healthy again, so the tests do not depend on each other's order.

Recording (OFFGRIDFLOW_RECORD_SCENARIOS): each fault's label (:data:`LABELS`, what was broken, how, and
the verdict an expert gives) is written from the fault before any look; the test then looks once, and
that first look is kept in the corpus with its label whatever triage says of it - a verdict that
disagrees is kept as a known miss - before the test asserts anything. A look is never retaken until
it agrees.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from helpers.triage_corpus import cannot_see, hung, label, scenario_block
from offgridflow_runbook.environments.kind import KindSession
from offgridflow_runbook.gameday.alerts import wait_for_quiet
from offgridflow_runbook.probes import record
from offgridflow_runbook.runbook.evidence import DEFAULT_SINCE
from offgridflow_runbook.runbook.triage import decide
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
# with `diagnose --record` for the triage corpus, with its fault's label, before the test asserts anything.
RECORD_ENV = "OFFGRIDFLOW_RECORD_SCENARIOS"
THIS = "tests/kind/test_kind_diagnose.py"

# The label of each fault these tests make, written from the fault (never from a verdict).
LABELS: dict[str, dict[str, Any]] = {
    "healthy": label("nothing broken: the kind cluster after make kind-up", "healthy", "healthy"),
    "oom": label(
        "the API's memory limit set to 40Mi (kubectl set resources): the kernel OOM-kills it",
        "oom",
        "diagnosed",
        ("Fix 2",),
        mentions=("OOMKilled",),
    ),
    "image-pull": label(
        "the API's image set to a tag missing from the registry kind pulls from (v9.9.9-missing)",
        "image",
        "diagnosed",
        ("Fix 4",),
        mentions=("v9.9.9-missing",),
    ),
    "config-crash": label(
        "a new ConfigMap with OFFGRIDFLOW_DB_POOL_MAX=lots rolled out: the new pods crash-loop",
        "config",
        "diagnosed",
        ("Fix 3",),
        mentions=("OFFGRIDFLOW_DB_POOL_MAX",),
    ),
    "db-pod-missing": label(
        "StatefulSet postgres scaled to 0: no database pod",
        "database",
        "diagnosed",
        ("Fix 1",),
        mentions=("postgres",),
        remedy="scale postgres back to 1: Fix 1's rollout restart of a StatefulSet at 0 replicas starts "
        "no pod",
    ),
    "no-endpoints": label(
        "offgridflow-api-service's selector patched to app=no-such-app: the Service has no endpoints",
        "network",
        "diagnosed",
        ("Triage 2D",),
        mentions=("endpoints",),
    ),
    "db-not-ready": label(
        "postgres' readiness probe edited to ask port 5433: the pod runs and serves 5432 but is never "
        "ready, so postgres-service has no endpoint for the API",
        "database",
        "diagnosed",
        ("Fix 1",),
        mentions=("postgres-0 Running not ready",),
        remedy="revert the StatefulSet's probe: Fix 1's restart brings the same probe back (the runbook "
        "has no step for a broken database manifest)",
    ),
    "db-too-many-connections": label(
        "max_connections 20, every slot held by connections leaked as the API's role, the API's "
        "sessions ended: PostgreSQL refuses the API (pg_isready still accepts)",
        "database",
        "diagnosed",
        ("Fix 1",),
    ),
    "exec-forbidden": cannot_see(
        "nothing broken; looked at with a ServiceAccount whose Role has every read but pods/exec",
        "pg_isready",
        mentions=("403 Forbidden",),
    ),
    "ingress-missing": label(
        "Ingress offgridflow-api deleted; the kind target's URL (the Service's NodePort) still answers",
        "network",
        "diagnosed",
        ("Triage 2D",),
        mentions=("no Ingress in namespace offgridflow",),
    ),
    "api-hung": hung(
        "every API process SIGSTOPped from the node, looked at within seconds while the pods are "
        "still ready: connections accepted, requests time out",
        "timed out",
        "hung process",
    ),
    "api-hung-not-ready": hung(
        "every API process SIGSTOPped; the readiness probe has marked the pods not ready and the URL "
        "refuses (before the liveness probe restarts them)",
        "none ready: its API pods are not ready",
    ),
    "metrics-api-missing": cannot_see(
        "kube-system's metrics-server scaled to 0: the metrics API answers 503",
        "resource usage",
        mentions=("metrics.k8s.io",),
    ),
}


def diagnose(
    kind_session: KindSession,
    scenario: str | None = None,
    description: str = "",
    *,
    kubeconfig: Path | None = None,
) -> Verdict:
    """`offgridflow-runbook diagnose --target kind --json` as a user runs it (``kubeconfig``: as a user
    whose own kubeconfig it is, with ``--kubeconfig``)."""
    environ = {**os.environ, "KUBECONFIG": str(kind_session.settings.kubeconfig)}
    command = [
        str(Path(sys.executable).parent / "offgridflow-runbook"),
        "diagnose",
        "--target",
        "kind",
        "--json",
    ]
    if kubeconfig is not None:
        command += ["--kubeconfig", str(kubeconfig)]
    folder = os.environ.get(RECORD_ENV)
    recording = Path(folder).resolve() / f"{scenario}.json" if folder and scenario else None
    if recording is not None:
        assert scenario in LABELS, (
            f"no label for {scenario!r}: a look is recorded only with its fault's label"
        )
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
    if recording is not None:
        keep_look(verdict)
    return verdict


def keep_look(verdict: Verdict) -> None:
    """Keep a recorded look with its fault's label at once, before the test judges it: the corpus holds
    the first look, whatever triage said of it (a disagreement is kept as a known miss)."""
    assert verdict.recording is not None
    raw = json.loads(verdict.recording.read_text())
    observations, _ = record.load(verdict.recording)
    origin = {"class": "real-kind", "by": f"{THIS} ({RECORD_ENV})"}
    name = verdict.recording.stem
    judged = decide(observations, since=record.since_of(raw, DEFAULT_SINCE))  # as diagnose judged it
    raw["scenario"] = scenario_block(name, verdict.description, origin, LABELS[name], judged)
    verdict.recording.write_text(json.dumps(raw, indent=1) + "\n")


def api_ready(kind_target: Target) -> bool:
    try:
        return httpx.get(f"{kind_target.base_url}/health/ready", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def healthy(kind_session: KindSession, kind_target: Target, cluster: Callable[..., str]) -> Iterator[None]:
    """The API rolled out and ready before the test, and again after it (whatever it broke), and
    triage's all-clear before it: an earlier test's alert and log lines must be gone first. Quiet
    means no runbook alert pending either: an earlier test's 5xx answers keep the error-rate alert
    pending for its `for` after the API recovered, and it fires during the next test's look."""
    started = time.monotonic()
    cluster("rollout", "status", DEPLOYMENT, "--timeout=240s", timeout=260)
    wait_until("the API answers ready", lambda: api_ready(kind_target), 180)
    ready_s = time.monotonic() - started
    seen: set[str] = set()
    still = wait_for_quiet(str(kind_target.prometheus_url), deadline=240, say=lambda _line: None, seen=seen)
    assert still == [], f"the cluster did not turn quiet within 240 s: {', '.join(still)}"
    quiet_s = time.monotonic() - started - ready_s
    looks: list[Verdict] = []

    def all_clear() -> bool:
        looks.append(diagnose(kind_session))
        return looks[-1].exit_code == 0

    wait_until("diagnose says healthy", all_clear, 240, interval=5)
    # where a test's set-up time went (kept in make test's JUnit report)
    print(
        f"healthy before the test: rolled out and ready {ready_s:.0f} s, quiet {quiet_s:.0f} s later "
        f"(waited out: {', '.join(sorted(seen)) or 'nothing'}), diagnose's all-clear at look {len(looks)}"
        + "".join(f"; look {n}: exit {v.exit_code} {v.section}" for n, v in enumerate(looks[:-1], start=1))
    )
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


def previous_logs_kept(cluster: Callable[..., str]) -> bool:
    """An API pod that restarted has its previous run's log (``kubectl logs --previous``)."""
    for pod in pods(cluster):
        metadata: dict[str, Any] = pod["metadata"]  # type: ignore[assignment]
        status: dict[str, Any] = pod.get("status", {})  # type: ignore[assignment]
        if not any(int(c.get("restartCount", 0)) >= 1 for c in status.get("containerStatuses", [])):
            continue
        with contextlib.suppress(RuntimeError):
            if cluster("logs", str(metadata["name"]), "-c", "api", "--previous").strip():
                return True
    return False


def backing_off_after(cluster: Callable[..., str], restarts: int) -> bool:
    """An API container waits in CrashLoopBackOff after at least ``restarts`` restarts."""
    return any(
        int(status.get("restartCount", 0)) >= restarts  # type: ignore[call-overload]
        and (status.get("state", {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff"  # type: ignore[union-attr]
        for status in container_statuses(cluster)
    )


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
    """One look (kept, when recording, before anything is asserted): diagnose exits 2 (a problem
    diagnosed), names ``section`` and shows ``mentions`` as evidence. Never asked again until it
    agrees: a test that needs the state to settle waits for that state before the look."""
    verdict = diagnose(kind_session, scenario, description)
    assert verdict.exit_code == 2, verdict.text
    assert verdict.section == section, verdict.text
    assert mentions in verdict.text, verdict.text


@pytest.mark.usefixtures("healthy")
def test_the_healthy_cluster_is_diagnosed_healthy(kind_session: KindSession) -> None:
    verdict = diagnose(kind_session, "healthy", "the kind cluster after make kind-up, nothing broken")
    assert (verdict.exit_code, verdict.document["cause"]) == (0, "healthy"), verdict.text


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
    apply(kind_session, broken)
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
        # The one look must find what a user would: the crashed run's log. The state settles before
        # the look (which is never retaken): while the kubelet backs off after a second crash (20 s)
        # the previous run's log stays put; right after a restart it may not be retrievable yet (seen
        # in CI: "unable to retrieve container logs" for a pod Running again at restarts=1).
        wait_until(
            "a crashed pod backs off with its previous run's log kept",
            lambda: backing_off_after(cluster, 2) and previous_logs_kept(cluster),
            180,
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
    finally:
        cluster(
            "patch",
            "service",
            "offgridflow-api-service",
            "-p",
            '{"spec":{"selector":{"app":"offgridflow-api"}}}',
        )


def apply(kind_session: KindSession, document: Mapping[str, Any]) -> None:
    """``kubectl apply -f -`` of one manifest (a ``List`` for several)."""
    subprocess.run(
        [
            str(kind_session.cluster.kubectl_path),
            "--kubeconfig",
            str(kind_session.settings.kubeconfig),
            "apply",
            "-f",
            "-",
        ],
        input=json.dumps(document),
        text=True,
        check=True,
        capture_output=True,
        timeout=60,
    )


def psql(cluster: Callable[..., str], sql: str) -> str:
    """SQL as the database's superuser, over the postgres container's own socket (local trust): what a
    DBA runs with ``kubectl exec``, and what PostgreSQL keeps reserved slots for."""
    return cluster(
        "exec",
        "postgres-0",
        "-c",
        "postgres",
        "--",
        "psql",
        "-h",
        "/var/run/postgresql",
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-Atc",
        sql,
    ).strip()


def restart_postgres(cluster: Callable[..., str]) -> None:
    cluster("delete", "pod", "postgres-0", "--timeout=120s", timeout=150)
    cluster("rollout", "status", "statefulset/postgres", "--timeout=240s", timeout=260)


@pytest.mark.usefixtures("healthy")
def test_a_database_pod_running_but_never_ready_names_fix_1(
    kind_session: KindSession, cluster: Callable[..., str]
) -> None:
    statefulset = json.loads(cluster("get", "statefulset/postgres", "-o", "json"))
    containers = statefulset["spec"]["template"]["spec"]["containers"]
    index = next(i for i, container in enumerate(containers) if container["name"] == "postgres")
    path = f"/spec/template/spec/containers/{index}/readinessProbe/exec/command"
    probe = containers[index]["readinessProbe"]["exec"]["command"]
    # A readiness probe edited to ask the wrong port: PostgreSQL runs and serves 5432, the kubelet never
    # sees the pod ready, and postgres-service leaves it out of its endpoints.
    wrong = [*probe[:-1], probe[-1].replace("-p 5432", "-p 5433")]
    assert wrong != probe, probe
    cluster(
        "patch",
        "statefulset/postgres",
        "--type=json",
        "-p",
        json.dumps([{"op": "replace", "path": path, "value": wrong}]),
    )

    def running_never_ready() -> bool:
        revision = json.loads(cluster("get", "statefulset/postgres", "-o", "json"))["status"].get(
            "updateRevision"
        )
        database: list[Any] = pods(cluster, "postgres")
        return any(
            pod["metadata"].get("labels", {}).get("controller-revision-hash") == revision
            and pod["status"].get("phase") == "Running"
            and any(
                status["name"] == "postgres"
                and "running" in status.get("state", {})
                and not status.get("ready")
                for status in pod["status"].get("containerStatuses", [])
            )
            for pod in database
        )

    try:
        wait_until("the new postgres pod runs but is not ready", running_never_ready, 180)
        assert_diagnosed(
            kind_session,
            "Fix 1",
            "postgres-0 Running not ready",
            "db-not-ready",
            "postgres' readiness probe edited to ask port 5433: the pod runs and serves 5432 but is never "
            "ready, so postgres-service has no endpoint for the API",
        )
    finally:
        cluster(
            "patch",
            "statefulset/postgres",
            "--type=json",
            "-p",
            json.dumps([{"op": "replace", "path": path, "value": probe}]),
        )
        # A StatefulSet does not replace a pod that is not ready during a rolling update (the forced
        # rollback of the Kubernetes docs): delete it, and it comes back from the restored template.
        restart_postgres(cluster)


class HeldConnections:
    """Database connections held open as the API's own role, through ``kubectl port-forward``: a client
    that leaks connections until PostgreSQL has no slot left for anyone but its superuser."""

    def __init__(self, kind_session: KindSession, password: str) -> None:
        self._password = password
        self._held: list[psycopg.Connection[tuple[object, ...]]] = []
        self._forward = subprocess.Popen(
            [
                str(kind_session.cluster.kubectl_path),
                "--kubeconfig",
                str(kind_session.settings.kubeconfig),
                "-n",
                NAMESPACE,
                "port-forward",
                "pod/postgres-0",
                ":5432",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._port = self._forwarded_port(timeout=30)

    def _forwarded_port(self, timeout: float) -> int:
        assert self._forward.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._forward.stdout], [], [], 1.0)
            if not ready:
                continue
            line = self._forward.stdout.readline()
            if not line:
                break  # port-forward ended
            if match := re.search(r"127\.0\.0\.1:(\d+)", line):
                return int(match.group(1))
        self.close()
        pytest.fail(f"kubectl port-forward to postgres-0 did not start within {timeout:.0f}s")

    def fill(self, most: int = 60) -> str:
        """Open connections until PostgreSQL refuses one; its refusal."""
        for _ in range(most):
            try:
                self._held.append(
                    psycopg.connect(
                        host="127.0.0.1",
                        port=self._port,
                        user="offgridflow",
                        password=self._password,
                        dbname="offgridflow",
                        connect_timeout=5,
                    )
                )
            except psycopg.OperationalError as refused:
                return str(refused).strip()
        pytest.fail(f"PostgreSQL still accepted connections after {most} more")

    @property
    def count(self) -> int:
        return len(self._held)

    def close(self) -> None:
        for connection in self._held:
            with contextlib.suppress(Exception):
                connection.close()
        self._held.clear()
        self._forward.terminate()
        try:
            self._forward.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._forward.kill()
            self._forward.wait(timeout=10)
        if self._forward.stdout is not None:
            self._forward.stdout.close()


# The API's database sessions: from the pods' addresses; the exporter and port-forward come from localhost.
API_SESSIONS = (
    "FROM pg_stat_activity WHERE usename = 'offgridflow' AND client_addr IS NOT NULL "
    "AND host(client_addr) NOT IN ('127.0.0.1', '::1')"
)


@pytest.mark.usefixtures("healthy")
def test_a_database_out_of_connection_slots_names_fix_1(
    kind_session: KindSession, kind_target: Target, cluster: Callable[..., str]
) -> None:
    secret = cluster(
        "get", "secret", "offgridflow-secrets", "-o", "jsonpath={.data.OFFGRIDFLOW_DATABASE_PASSWORD}"
    )
    password = base64.b64decode(secret).decode()
    default = psql(cluster, "SHOW max_connections")
    # Few slots, so that a handful of leaked connections takes them all (a restart applies it).
    psql(cluster, "ALTER SYSTEM SET max_connections = 20")
    try:
        restart_postgres(cluster)
        wait_until("postgres runs with 20 slots", lambda: psql(cluster, "SHOW max_connections") == "20", 60)
        wait_until("the API is ready again", lambda: api_ready(kind_target), 120)
        held = HeldConnections(kind_session, password)
        try:
            # Take every free slot, then end the API's sessions (as pg_terminate_backend or a network
            # blip does) and take the slots they freed before the API's pool reconnects.
            for _attempt in range(10):
                refusal = held.fill()
                psql(cluster, f"SELECT count(pg_terminate_backend(pid)) {API_SESSIONS}")
                refusal = held.fill()
                if psql(cluster, f"SELECT count(*) {API_SESSIONS}") == "0":
                    break
            else:
                pytest.fail("the API's pool kept winning its connections back")
            assert "connection slots" in refusal or "too many clients" in refusal, refusal
            reason = refusal.split("FATAL:")[-1].strip()
            wait_until(
                "no API pod is ready (its pool cannot get a connection)",
                lambda: not any(status.get("ready") for status in container_statuses(cluster)),
                90,
            )
            assert_diagnosed(
                kind_session,
                "Fix 1",
                reason,
                "db-too-many-connections",
                f"max_connections 20 and {held.count} connections leaked through port-forward as the "
                f"API's role; the API's sessions ended: PostgreSQL refuses it ({reason}), "
                "pg_isready still accepts",
            )
        finally:
            held.close()
    finally:
        psql(cluster, "ALTER SYSTEM RESET max_connections")
        restart_postgres(cluster)
        wait_until(
            f"postgres runs with its {default} slots again",
            lambda: psql(cluster, "SHOW max_connections") == default,
            60,
        )


READER = "triage-reader"


@pytest.mark.usefixtures("healthy")
def test_exec_forbidden_leaves_pg_isready_unknown_never_a_cause(
    kind_session: KindSession, kind_target: Target, cluster: Callable[..., str], tmp_path: Path
) -> None:
    # Someone on call with a read-only ServiceAccount: every read triage needs, but not pods/exec.
    read = ["get", "list", "watch"]
    manifests = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": READER, "namespace": NAMESPACE},
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": READER, "namespace": NAMESPACE},
                "rules": [
                    {
                        "apiGroups": [""],
                        "resources": ["pods", "pods/log", "events", "services", "endpoints", "configmaps"],
                        "verbs": read,
                    },
                    {
                        "apiGroups": ["apps"],
                        "resources": ["deployments", "replicasets", "statefulsets"],
                        "verbs": read,
                    },
                    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": read},
                    {"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": read},
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": READER, "namespace": NAMESPACE},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": READER},
                "subjects": [{"kind": "ServiceAccount", "name": READER, "namespace": NAMESPACE}],
            },
        ],
    }
    apply(kind_session, manifests)
    try:
        token = cluster("create", "token", READER, "--duration=10m").strip()
        context = str(kind_target.kube_context)
        view = json.loads(
            kind_session.kubectl("config", "view", "--raw", "--minify", "--context", context, "-o", "json")
        )
        reader = tmp_path / "reader.kubeconfig"
        reader.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": context, "cluster": view["clusters"][0]["cluster"]}],
                    "users": [{"name": READER, "user": {"token": token}}],
                    "contexts": [
                        {
                            "name": context,
                            "context": {"cluster": context, "user": READER, "namespace": NAMESPACE},
                        }
                    ],
                    "current-context": context,
                }
            )
        )

        def can_i(*args: str) -> str:
            result = subprocess.run(
                [
                    str(kind_session.cluster.kubectl_path),
                    "--kubeconfig",
                    str(reader),
                    "-n",
                    NAMESPACE,
                    "auth",
                    "can-i",
                    *args,
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            return result.stdout.strip()

        wait_until(
            "the reader may list pods but not exec into them",
            lambda: (can_i("list", "pods"), can_i("create", "pods", "--subresource=exec")) == ("yes", "no"),
            60,
        )
        verdict = diagnose(
            kind_session,
            "exec-forbidden",
            "a healthy cluster looked at with a ServiceAccount whose Role has every read but pods/exec: "
            "pg_isready cannot run",
            kubeconfig=reader,
        )
        assert (verdict.exit_code, verdict.document["outcome"]) == (4, "inconclusive"), verdict.text
        assert verdict.document["candidates"] == [], verdict.text
        unknown: list[str] = verdict.document["unknown"]  # type: ignore[assignment]
        assert [line for line in unknown if line.startswith("pg_isready:")], verdict.text
        assert "403 Forbidden" in verdict.text, verdict.text
    finally:
        for kind in ("rolebinding", "role", "serviceaccount"):
            cluster("delete", kind, READER, "--ignore-not-found")


@pytest.mark.usefixtures("healthy")
def test_a_deleted_ingress_names_triage_2d(kind_session: KindSession, cluster: Callable[..., str]) -> None:
    ingress = json.loads(cluster("get", "ingress", "offgridflow-api", "-o", "json"))
    cluster("delete", "ingress", "offgridflow-api")
    try:
        wait_until(
            "the namespace has no Ingress",
            lambda: not json.loads(cluster("get", "ingress", "-o", "json"))["items"],
            60,
        )
        # kind reaches the API through the Service's NodePort, not an ingress controller: the API
        # still answers there, but the Ingress users come through is gone.
        assert_diagnosed(
            kind_session,
            "Triage 2D",
            "no Ingress in namespace offgridflow",
            "ingress-missing",
            "Ingress offgridflow-api deleted; the kind target's URL (the NodePort) still answers",
        )
    finally:
        if not json.loads(cluster("get", "ingress", "-o", "json"))["items"]:
            metadata = {
                key: ingress["metadata"][key]
                for key in ("name", "namespace", "labels", "annotations")
                if key in ingress["metadata"]
            }
            apply(kind_session, {**{k: v for k, v in ingress.items() if k != "status"}, "metadata": metadata})


SIGNALLER = "offgridflow-api-signaller"


def api_processes(kind_session: KindSession, cluster: Callable[..., str], signal: str) -> list[str]:
    """``kill -<signal>`` the main process of every API container, from the signaller on the node (the
    node's PID namespace: inside its own container the API is PID 1, which ignores SIGSTOP from there).
    The host PIDs signalled."""
    ids = [
        str(status["containerID"]).split("://")[-1]
        for status in container_statuses(cluster)
        if status.get("containerID")
    ]
    script = (
        'for id in "$@"; do for p in /proc/[0-9]*; do grep -qs "$id" "$p/cgroup" || continue; '
        '[ "$(awk \'/^NSpid:/ {print $NF}\' "$p/status")" = 1 ] || continue; '
        f'kill -{signal} "${{p#/proc/}}" && echo "${{p#/proc/}}"; done; done'
    )
    out = kind_session.kubectl(
        "-n", "default", "exec", SIGNALLER, "--", "sh", "-c", script, "sh", *ids, timeout=30
    )
    return out.split()


@pytest.mark.usefixtures("healthy")
def test_a_hung_api_times_out_then_its_pods_turn_not_ready_and_names_triage_1(
    kind_session: KindSession, cluster: Callable[..., str]
) -> None:
    api_pods = pods(cluster)
    image = str(api_pods[0]["spec"]["containers"][0]["image"])  # type: ignore[index]
    # What `kubectl debug node/... --profile=sysadmin` makes, with a name: a pod in the node's PID
    # namespace, from an image the node already has.
    apply(
        kind_session,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": SIGNALLER, "namespace": "default"},
            "spec": {
                "nodeName": api_pods[0]["spec"]["nodeName"],  # type: ignore[index]
                "hostPID": True,
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 0,
                "tolerations": [{"operator": "Exists"}],
                "containers": [
                    {
                        "name": "signaller",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["sleep", "900"],
                        "securityContext": {"privileged": True},
                    }
                ],
            },
        },
    )
    try:
        kind_session.kubectl(
            "-n",
            "default",
            "wait",
            f"pod/{SIGNALLER}",
            "--for=condition=Ready",
            "--timeout=120s",
            timeout=140,
        )
        stopped = api_processes(kind_session, cluster, "STOP")
        assert len(stopped) == len(api_pods), stopped
        # At once, before the kubelet's readiness probe (every 5 s, 2 failures) notices: the pods are
        # still ready and in the Service, connections are accepted, nothing answers.
        verdict = diagnose(
            kind_session,
            "api-hung",
            "every API process SIGSTOPped (from the node); looked at within seconds, while the pods are "
            "still ready: requests time out",
        )
        assert (verdict.exit_code, verdict.section) == (3, "Triage 1"), verdict.text
        assert "timed out" in verdict.text, verdict.text
        assert "hung process" in verdict.text, verdict.text

        # Then the kubelet's readiness probe times out, the pods turn not ready and leave the Service's
        # ready endpoints: the URL no longer times out, it is refused. Still no network fault.
        def endpoints_all_not_ready() -> bool:
            subsets = (
                json.loads(cluster("get", "endpoints", "offgridflow-api-service", "-o", "json")).get(
                    "subsets"
                )
                or []
            )
            return not any(s.get("addresses") for s in subsets) and any(
                s.get("notReadyAddresses") for s in subsets
            )

        wait_until("the hung pods are not ready endpoints", endpoints_all_not_ready, 40, interval=1)
        verdict = diagnose(
            kind_session,
            "api-hung-not-ready",
            "every API process SIGSTOPped; the kubelet's readiness probe timed out, the pods are not ready "
            "endpoints of the Service and the URL is refused (before the liveness probe restarts them)",
        )
        assert (verdict.exit_code, verdict.section) == (3, "Triage 1"), verdict.text
        assert "none ready: its API pods are not ready" in verdict.text, verdict.text
        assert "restarts=0" in verdict.text, verdict.text
    finally:
        with contextlib.suppress(RuntimeError):
            api_processes(kind_session, cluster, "CONT")
        kind_session.kubectl(
            "-n", "default", "delete", "pod", SIGNALLER, "--ignore-not-found", "--wait=false"
        )
        # The liveness probe may have had the kubelet kill them already: the Quick Fix, fresh pods.
        cluster("rollout", "restart", DEPLOYMENT)
        cluster("rollout", "status", DEPLOYMENT, "--timeout=240s", timeout=260)


METRICS = "/apis/metrics.k8s.io/v1beta1/namespaces/offgridflow/pods"


def metrics_answer(kind_session: KindSession) -> str:
    """What the metrics API says about the namespace's pods: ``items=N``, or the API server's refusal."""
    try:
        return f"items={len(json.loads(kind_session.kubectl('get', '--raw', METRICS))['items'])}"
    except RuntimeError as refused:
        return str(refused)


@pytest.mark.usefixtures("healthy")
def test_no_metrics_server_leaves_resource_usage_unknown_never_healthy(kind_session: KindSession) -> None:
    deployment = json.loads(
        kind_session.kubectl("-n", "kube-system", "get", "deployment/metrics-server", "-o", "json")
    )
    replicas = str(deployment["spec"].get("replicas", 1))
    kind_session.kubectl("-n", "kube-system", "scale", "deployment/metrics-server", "--replicas=0")
    try:
        wait_until(
            "the metrics API answers 503",
            lambda: "ServiceUnavailable" in metrics_answer(kind_session),
            120,
        )
        verdict = diagnose(
            kind_session,
            "metrics-api-missing",
            "kube-system's metrics-server scaled to 0: the metrics API (metrics.k8s.io) answers 503, "
            "kubectl top cannot",
        )
        assert (verdict.exit_code, verdict.document["outcome"]) == (4, "inconclusive"), verdict.text
        assert verdict.document["candidates"] == [], verdict.text
        unknown: list[str] = verdict.document["unknown"]  # type: ignore[assignment]
        assert [line for line in unknown if line.startswith("resource usage:")], verdict.text
        assert "metrics.k8s.io" in verdict.text, verdict.text
    finally:
        kind_session.kubectl(
            "-n", "kube-system", "scale", "deployment/metrics-server", f"--replicas={replicas}"
        )
        kind_session.kubectl(
            "-n",
            "kube-system",
            "rollout",
            "status",
            "deployment/metrics-server",
            "--timeout=180s",
            timeout=200,
        )
        wait_until(
            "the metrics API has the API pods' metrics again",
            lambda: (
                metrics_answer(kind_session).startswith("items=")
                and metrics_answer(kind_session) != "items=0"
            ),
            180,
            interval=5,
        )
