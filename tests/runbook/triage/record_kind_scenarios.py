"""Records kind scenarios of the triage corpus from the real kind cluster (``scenarios/kind/``), on demand.

Each scenario's label is written first, from its fault (:data:`LABELS`: what it breaks, how, and the
verdict an expert gives). Before each fault the recorder waits until triage calls the cluster quiet
(``helpers.triage_recording``); it then breaks one thing with kubectl or SQL the way an incident (or an
engineer) would, waits (bounded) until the break is visible in the cluster, takes one look exactly as
``offgridflow-runbook diagnose --record`` does, and puts the cluster back (try/finally), waiting until
the API is ready again before the next one. The look is taken once and kept whatever triage says of
it: a verdict that disagrees with the label is kept as a known miss, never retaken.

The faults tests/kind/test_kind_diagnose.py makes in the kind tier stay there; these are recorded
only here, so that the corpus replays them instead of the kind tier making them on every run.
It changes the shared cluster: run it only while you hold the cluster (``/tmp/kind-busy``), with the
cluster's API token in the kind target's token variable (``source .state/kind/env``):

    source /path/to/main/.state/kind/env
    OFFGRIDFLOW_HOME=/path/to/main PYTHONPATH=src:tests .venv/bin/python \\
        tests/runbook/triage/record_kind_scenarios.py [--until HH:MM] [NAME ...]

``--until`` (UTC): no scenario starts after that time (the cluster is handed back then).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, where the helpers package lives

from helpers.triage_corpus import cannot_see, label
from helpers.triage_recording import DATABASE_CHANGES, Recorder, database_change, wait, write_refused
from offgridflow_runbook.environments.kind import cluster_cache
from offgridflow_runbook.runbook.triage import NOT_COVERED

OUT = Path(__file__).resolve().parent / "scenarios" / "kind"
NAMESPACE = "offgridflow"
DEPLOYMENT = "deployment/offgridflow-api"
ALERTMANAGER = "deployment/alertmanager"
MISSING_KEY = "OFFGRIDFLOW_DATABASE_PASSWORD_V2"
INVALID_IMAGE = "ghcr.io/your-org/OffGridFlow-api:v1.3.0"
MISSING_TAG = "ghcr.io/your-org/offgridflow-api:v9.9.9-missing"
WRONG_DB_HOST = "postgres-primary"

# Each fault's label, written from the fault (what it breaks and how), before any look is taken.
LABELS: dict[str, dict[str, Any]] = {
    "config-secret-key-missing": label(
        f"a rollout whose api container takes OFFGRIDFLOW_DATABASE_PASSWORD from key {MISSING_KEY} of "
        "Secret offgridflow-secrets, a key the Secret does not have: the new pod waits in "
        "CreateContainerConfigError, the old pods serve",
        "config",
        "diagnosed",
        ("Fix 3",),
        mentions=(MISSING_KEY,),
    ),
    "invalid-image-name": label(
        f"the API's image set to {INVALID_IMAGE} (upper case: not a valid image reference): the new pod "
        "waits in InvalidImageName, the old pods serve",
        "image",
        "diagnosed",
        ("Fix 4",),
        mentions=("InvalidImageName",),
    ),
    "api-bad-command": label(
        "a rollout with the api container's command set to python3 -m offgridflow_api.server (a module "
        "that does not exist): the new pod exits 1 (Error) and crash-loops, the old pods serve",
        "config",
        "diagnosed",
        ("Fix 3",),
        remedy="roll the change back (Fix 3's rollout undo); the Quick Fix's restart runs the same command",
    ),
    "liveness-wrong-path": label(
        "a rollout with the api container's liveness probe asking /healthz (404 from a healthy "
        "process): the kubelet kills and restarts every new API container about every 30 s",
        "probe",
        "diagnosed",
        ("Fix 3",),
        remedy="roll the change back (Fix 3's rollout undo); the Quick Fix's restart brings the same probe",
    ),
    "unschedulable": label(
        "a rollout with nodeSelector offgridflow.io/pool=gpu, a label no node has: the new pod stays "
        "Pending (FailedScheduling, Unschedulable), the rollout is stuck, the old pods serve",
        "scheduling",
        "diagnosed",
        ("Fix 3",),
        remedy="roll the change back (Fix 3's rollout undo)",
    ),
    "quota-exceeded": label(
        "ResourceQuota offgridflow-pods (pods: the namespace's current count) created, then a rollout "
        "restart: the ReplicaSet cannot create its new pod (FailedCreate: exceeded quota), the rollout "
        "is stuck, the old pods serve",
        "scheduling",
        "diagnosed",
        (NOT_COVERED,),
        should_name="the rollout is stuck: the ReplicaSet's FailedCreate, exceeded quota",
        remedy="raise or remove the quota: a rollback needs a new pod too",
    ),
    "alertmanager-scaled-to-zero": cannot_see(
        "monitoring's alertmanager Deployment (Alertmanager and the alert receiver) scaled to 0: the "
        "API is fine, no page can be delivered",
        "Alertmanager",
        "alert receiver",
    ),
    "alert-receiver-down": cannot_see(
        "the alertmanager Deployment rolled out with ALERT_RECEIVER_PORT=9096 for its alert-receiver "
        "container: Alertmanager runs, nothing listens on 9095 where it delivers pages",
        "alert receiver",
    ),
    "service-target-port-wrong": label(
        "offgridflow-api-service's http port patched to targetPort 8090, where nothing listens: the "
        "endpoints list the ready pods on a port that refuses, the NodePort URL refuses",
        "network",
        "diagnosed",
        ("Triage 2D",),
    ),
    "db-host-missing": label(
        f"a new ConfigMap with OFFGRIDFLOW_DATABASE_HOST={WRONG_DB_HOST} (a Service that does not exist) "
        "rolled out: the new pod never turns ready, the rollout is stuck, the old pods serve; the "
        "database runs and is ready",
        "config",
        "diagnosed",
        ("Fix 3",),
        mentions=(WRONG_DB_HOST,),
        remedy="roll the change back (Fix 3); Fix 1 restarts a database that runs: it would not help",
    ),
    "db-connection-limit-zero": label(
        "ALTER DATABASE offgridflow CONNECTION LIMIT 0, the API's sessions ended: PostgreSQL runs and "
        "pg_isready accepts, every new connection to the API's database is refused",
        "database",
        "diagnosed",
        ("Fix 1",),
        remedy="ALTER DATABASE offgridflow CONNECTION LIMIT -1: a restart keeps a database's setting",
    ),
    "db-password-changed": label(
        "ALTER ROLE offgridflow PASSWORD to a value Secret offgridflow-secrets does not hold, the API's "
        "sessions ended: every new connection of the API fails password authentication; PostgreSQL "
        "runs and pg_isready accepts",
        "database",
        "diagnosed",
        ("Fix 1",),
        remedy="Fix 1's 'check database secrets' finds it: set the password back to the Secret's; Fix 1's "
        "restarts alone do not help",
    ),
    "oom-and-db-down": label(
        "two faults: the API's memory limit set to 40Mi (kubectl set resources: the new pod is "
        "OOM-killed), then StatefulSet postgres scaled to 0",
        "two-faults",
        "diagnosed",
        ("Fix 1", "Fix 2"),
        mentions=("OOMKilled",),
    ),
    "api-scaled-to-zero": label(
        "the API's Deployment scaled to 0 replicas (kubectl scale)",
        "instance",
        "unreachable",
        ("Triage 1",),
        mentions=("scaled to 0",),
        remedy="scale it back; the runbook has no Fix for it: Triage 1 confirms, and says why",
    ),
    "db-unreachable-from-api": label(
        "postgres-service's selector patched to app=no-such-database: postgres-0 runs and is ready, the "
        "Service has no endpoint, the API cannot reach its database",
        "database-path",
        "diagnosed",
        (NOT_COVERED,),
        should_name="the database is seen ready but the API cannot reach it: postgres-service has no "
        "endpoints",
        remedy="restore the Service's selector: Fix 1 restarts a database that runs, it would not help",
    ),
    "monitoring-down": cannot_see(
        "monitoring's prometheus Deployment scaled to 0: the API is fine, nothing evaluates an alert",
        "Prometheus",
    ),
    "db-read-only": label(
        "ALTER DATABASE offgridflow SET default_transaction_read_only = on, the API's sessions ended: "
        "reads and SELECT 1 work, every write fails (what a full disk or a failover to a replica does "
        "to the API)",
        "database",
        "diagnosed",
        (NOT_COVERED,),
        should_name="writes fail: the database is read-only, while reads and /health/ready still answer",
    ),
    "image-pull-and-alertmanager-down": label(
        f"two faults: monitoring's alertmanager Deployment scaled to 0, then the API's image set to "
        f"{MISSING_TAG} (a tag the registry does not have)",
        "two-faults",
        "diagnosed",
        ("Fix 4",),
        unknown=("Alertmanager", "alert receiver"),
    ),
    "config-key-missing": label(
        "a rollout whose api container takes OFFGRIDFLOW_DB_POOL_MAX from ConfigMap offgridflow-limits, "
        "made without that key: the new pod waits in CreateContainerConfigError, the old pods serve",
        "config",
        "diagnosed",
        ("Fix 3",),
        mentions=("couldn't find key OFFGRIDFLOW_DB_POOL_MAX",),
    ),
    "secret-missing": label(
        "a rollout whose api container takes its environment from Secret offgridflow-secrets-v2, which "
        "does not exist: the new pod waits in CreateContainerConfigError, the old pods serve",
        "config",
        "diagnosed",
        ("Fix 3",),
        mentions=("offgridflow-secrets-v2",),
    ),
    "readiness-wrong-path": label(
        "a rollout with the api container's readiness probe asking /readyz (404 from a healthy "
        "process): the new pod runs and is never ready, the rollout is stuck, the old pods serve",
        "probe",
        "diagnosed",
        ("Fix 3",),
        remedy="roll the change back (Fix 3's rollout undo)",
    ),
    "api-cpu-starved": label(
        "the API's CPU limit and request set to 5m (kubectl set resources): the new container starts too "
        "slowly to answer its probes, the kubelet restarts it; the old pods serve",
        "resources",
        "diagnosed",
        ("Fix 2",),
        remedy="raise the CPU limit (Fix 2 raises memory; its kubectl patch is the same shape)",
    ),
}

RECORDER = Recorder(
    "kind",
    OUT,
    "real-kind",
    "tests/runbook/triage/record_kind_scenarios.py",
    LABELS,
    settle=lambda: back(),  # defined below: every rollout done, the API ready
)
record = RECORDER.fault


# -- the cluster -----------------------------------------------------------------------------------------
def kubectl_binary() -> str:
    """``$KUBECTL_BIN``, else the one tools/cluster built, else kubectl on PATH."""
    built = cluster_cache() / "bin" / "kubectl"
    found = os.environ.get("KUBECTL_BIN") or (str(built) if built.exists() else shutil.which("kubectl"))
    if not found:
        raise SystemExit("kubectl not found: set KUBECTL_BIN or put kubectl on PATH")
    return found


def kubectl(*args: str, namespace: str = NAMESPACE, stdin: str | None = None, timeout: float = 180) -> str:
    """kubectl against the kind target's own kubeconfig and context, in ``namespace``; stops the run
    with kubectl's last line when it fails."""
    target = RECORDER.target()
    command = [
        kubectl_binary(),
        "--kubeconfig",
        str(target.kubeconfig),
        "--context",
        str(target.kube_context),
    ]
    result = subprocess.run(
        [*command, "-n", namespace, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise SystemExit(f"kubectl {' '.join(args)} failed: {last[0]}")
    return result.stdout


def get(*args: str, namespace: str = NAMESPACE) -> Any:
    return json.loads(kubectl("get", *args, "-o", "json", namespace=namespace))


def patch(resource: str, operations: list[dict[str, Any]], namespace: str = NAMESPACE) -> None:
    kubectl("patch", resource, "--type=json", "-p", json.dumps(operations), namespace=namespace)


def api_pods() -> list[dict[str, Any]]:
    return list(get("pods", "-l", "app=offgridflow-api")["items"])


def statuses() -> list[dict[str, Any]]:
    return [s for pod in api_pods() for s in pod.get("status", {}).get("containerStatuses", [])]


def waiting(*reasons: str) -> Callable[[], bool]:
    def check() -> bool:
        return any((s.get("state", {}).get("waiting") or {}).get("reason") in reasons for s in statuses())

    return check


def restarted(reason: str | None = None) -> Callable[[], bool]:
    """An API container restarted, its last run ended (with ``reason``, when given)."""

    def check() -> bool:
        return any(
            int(s.get("restartCount", 0)) >= 1
            and (last := (s.get("lastState", {}).get("terminated") or {}))
            and (reason is None or last.get("reason") == reason)
            for s in statuses()
        )

    return check


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=3)
    except httpx.HTTPError:
        return False
    return True


def api_ready() -> bool:
    try:
        return httpx.get(f"{RECORDER.target().base_url}/health/ready", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def no_api_pod_ready() -> bool:
    return not any(s.get("ready") for s in statuses())


def container_index(workload: dict[str, Any], name: str) -> int:
    containers = workload["spec"]["template"]["spec"]["containers"]
    return next(i for i, container in enumerate(containers) if container["name"] == name)


def revision(resource: str, namespace: str) -> str:
    return str(
        get(resource, namespace=namespace)["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    )


def rolled_back(resource: str = DEPLOYMENT, namespace: str = NAMESPACE) -> Callable[[], None]:
    """The put-back of a rollout: back to the revision ``resource`` has now (before the fault), only when
    the fault changed it (a plain ``rollout undo`` after a fault that never applied would roll back to
    an older, maybe broken, template)."""
    before = revision(resource, namespace)

    def restore() -> None:
        if revision(resource, namespace) != before:
            kubectl("rollout", "undo", resource, f"--to-revision={before}", namespace=namespace)
        kubectl("rollout", "status", resource, "--timeout=240s", namespace=namespace, timeout=260)

    return restore


def back() -> None:
    """The cluster as the fault found it: every rollout done, the API ready."""
    kubectl("rollout", "status", DEPLOYMENT, "--timeout=240s", timeout=260)
    kubectl("rollout", "status", "statefulset/postgres", "--timeout=240s", timeout=260)
    for monitoring in (ALERTMANAGER, "deployment/prometheus"):
        kubectl("rollout", "status", monitoring, "--timeout=240s", namespace="monitoring", timeout=260)
    wait("the API answers ready again", api_ready, 240, interval=2)


# -- the database ---------------------------------------------------------------------------------------
def psql(sql: str) -> str:
    """SQL as the superuser over postgres-0's own socket (local trust), as a DBA runs it."""
    return kubectl(
        "exec", "postgres-0", "-c", "postgres", "--",
        "psql", "-h", "/var/run/postgresql", "-U", "postgres", "-d", "postgres", "-Atc", sql,
    ).strip()  # fmt: skip


# The API's own sessions (from the pods' addresses; the exporter connects from localhost): ended so
# that its pool reconnects under the changed setting, as after a network blip or a failover.
END_API_SESSIONS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'offgridflow' "
    "AND client_addr IS NOT NULL AND host(client_addr) NOT IN ('127.0.0.1', '::1')"
)


# -- the scenarios ---------------------------------------------------------------------------------------
def config_secret_key_missing() -> None:
    index = container_index(get(DEPLOYMENT), "api")
    env = {
        "name": "OFFGRIDFLOW_DATABASE_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "offgridflow-secrets", "key": MISSING_KEY}},
    }
    record(
        "config-secret-key-missing",
        f"a rollout taking the database password from key {MISSING_KEY} of offgridflow-secrets, which "
        "the Secret does not have: the new pod waits in CreateContainerConfigError",
        apply=lambda: patch(
            DEPLOYMENT, [{"op": "add", "path": f"/spec/template/spec/containers/{index}/env", "value": [env]}]
        ),
        restore=rolled_back(),
        shows=("a new pod waits in CreateContainerConfigError", waiting("CreateContainerConfigError")),
    )


def invalid_image_name() -> None:
    record(
        "invalid-image-name",
        f"the API's image set to {INVALID_IMAGE}: not a valid reference, the new pod waits in "
        "InvalidImageName",
        apply=lambda: kubectl("set", "image", DEPLOYMENT, f"api={INVALID_IMAGE}"),
        restore=rolled_back(),
        shows=("a new pod waits in InvalidImageName", waiting("InvalidImageName")),
    )


def _previous_logs_kept() -> bool:
    for pod in api_pods():
        if any(
            int(s.get("restartCount", 0)) >= 1 for s in pod.get("status", {}).get("containerStatuses", [])
        ):
            with contextlib.suppress(SystemExit):
                if kubectl("logs", pod["metadata"]["name"], "-c", "api", "--previous").strip():
                    return True
    return False


def api_bad_command() -> None:
    index = container_index(get(DEPLOYMENT), "api")
    command = ["python3", "-m", "offgridflow_api.server"]
    record(
        "api-bad-command",
        "a rollout with the api container's command python3 -m offgridflow_api.server (no such module): "
        "the new pod exits 1 and crash-loops",
        apply=lambda: patch(
            DEPLOYMENT,
            [{"op": "add", "path": f"/spec/template/spec/containers/{index}/command", "value": command}],
        ),
        restore=rolled_back(),
        shows=(
            "a new container exited with Error and its previous logs are kept",
            lambda: restarted("Error")() and _previous_logs_kept(),
        ),
    )


def liveness_wrong_path() -> None:
    index = container_index(get(DEPLOYMENT), "api")
    path = f"/spec/template/spec/containers/{index}/livenessProbe/httpGet/path"
    record(
        "liveness-wrong-path",
        "a rollout with the liveness probe asking /healthz (404): the kubelet restarts healthy API "
        "containers",
        apply=lambda: patch(DEPLOYMENT, [{"op": "replace", "path": path, "value": "/healthz"}]),
        restore=rolled_back(),
        shows=("an API container was restarted by its liveness probe", restarted()),
        shows_timeout=240,
    )


def _pending_unschedulable() -> bool:
    return any(
        pod.get("status", {}).get("phase") == "Pending"
        and any(c.get("reason") == "Unschedulable" for c in pod["status"].get("conditions", []))
        for pod in api_pods()
    )


def unschedulable() -> None:
    record(
        "unschedulable",
        "a rollout with nodeSelector offgridflow.io/pool=gpu, which no node has: the new pod stays Pending",
        apply=lambda: patch(
            DEPLOYMENT,
            [
                {
                    "op": "add",
                    "path": "/spec/template/spec/nodeSelector",
                    "value": {"offgridflow.io/pool": "gpu"},
                }
            ],
        ),
        restore=rolled_back(),
        shows=("a new pod is Pending, Unschedulable", _pending_unschedulable),
    )


def _failed_create() -> bool:
    events = get("events", "--field-selector", "reason=FailedCreate")["items"]
    return any("exceeded quota" in str(event.get("message")) for event in events)


def quota_exceeded() -> None:
    def apply() -> None:
        count = len(get("pods")["items"])
        quota = {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "offgridflow-pods", "namespace": NAMESPACE},
            "spec": {"hard": {"pods": str(count)}},
        }
        kubectl("apply", "-f", "-", stdin=json.dumps(quota))
        wait(
            "the quota counts the namespace's pods",
            lambda: bool(get("resourcequota", "offgridflow-pods").get("status", {}).get("used")),
            30,
        )
        kubectl("rollout", "restart", DEPLOYMENT)

    def restore() -> None:
        kubectl("delete", "resourcequota", "offgridflow-pods", "--ignore-not-found")
        kubectl("rollout", "status", DEPLOYMENT, "--timeout=240s", timeout=260)

    record(
        "quota-exceeded",
        "a ResourceQuota of pods at the namespace's current count, then a rollout restart: the "
        "ReplicaSet cannot create its new pod (FailedCreate, exceeded quota)",
        apply=apply,
        restore=restore,
        shows=("the ReplicaSet's FailedCreate (exceeded quota)", _failed_create),
    )


def _scaled(resource: str, namespace: str) -> tuple[Callable[[], object], Callable[[], object]]:
    """Scale ``resource`` to 0, and back to the replicas it had."""
    replicas = str(get(resource, namespace=namespace)["spec"].get("replicas", 1))

    def down() -> None:
        kubectl("scale", resource, "--replicas=0", namespace=namespace)

    def up() -> None:
        kubectl("scale", resource, f"--replicas={replicas}", namespace=namespace)
        kubectl("rollout", "status", resource, "--timeout=240s", namespace=namespace, timeout=260)

    return down, up


def _alertmanager_gone() -> bool:
    return not answers(f"{RECORDER.target().alertmanager_url}/-/ready")


def alertmanager_scaled_to_zero() -> None:
    down, up = _scaled(ALERTMANAGER, "monitoring")
    record(
        "alertmanager-scaled-to-zero",
        "monitoring's alertmanager Deployment (Alertmanager and the alert receiver) scaled to 0",
        apply=down,
        restore=up,
        shows=("Alertmanager does not answer", _alertmanager_gone),
    )


def alert_receiver_down() -> None:
    def apply() -> None:
        kubectl(
            "set",
            "env",
            ALERTMANAGER,
            "-c",
            "alert-receiver",
            "ALERT_RECEIVER_PORT=9096",
            namespace="monitoring",
        )
        kubectl("rollout", "status", ALERTMANAGER, "--timeout=180s", namespace="monitoring", timeout=200)

    record(
        "alert-receiver-down",
        "the alert receiver rolled out listening on 9096: Alertmanager delivers to 9095, where nothing "
        "listens",
        apply=apply,
        restore=rolled_back(ALERTMANAGER, "monitoring"),
        shows=(
            "the alert receiver does not answer",
            lambda: not answers(f"{RECORDER.target().alert_receiver_url}/"),
        ),
    )


def service_target_port_wrong() -> None:
    service = get("service", "offgridflow-api-service")
    index = next(i for i, port in enumerate(service["spec"]["ports"]) if port["name"] == "http")
    original = service["spec"]["ports"][index]["targetPort"]
    path = f"/spec/ports/{index}/targetPort"
    record(
        "service-target-port-wrong",
        "offgridflow-api-service's http targetPort patched to 8090, where nothing listens",
        apply=lambda: patch(
            "service/offgridflow-api-service", [{"op": "replace", "path": path, "value": 8090}]
        ),
        restore=lambda: patch(
            "service/offgridflow-api-service", [{"op": "replace", "path": path, "value": original}]
        ),
        shows=(
            "the API's URL does not answer",
            lambda: not answers(f"{RECORDER.target().base_url}/health/live"),
        ),
    )


def _pod_not_ready_saying(text: str) -> Callable[[], bool]:
    """An API pod runs, is not ready, and its log says ``text`` (the reason, not a slow start)."""

    def check() -> bool:
        for pod in api_pods():
            for status in pod.get("status", {}).get("containerStatuses", []):
                if "running" in status.get("state", {}) and not status.get("ready"):
                    with contextlib.suppress(SystemExit):
                        if text in kubectl("logs", pod["metadata"]["name"], "-c", "api", "--tail=50"):
                            return True
        return False

    return check


def db_host_missing() -> None:
    deployment = get(DEPLOYMENT)
    index = container_index(deployment, "api")
    sources = deployment["spec"]["template"]["spec"]["containers"][index].get("envFrom", [])
    source_index, config_map = next(
        (i, source["configMapRef"]["name"]) for i, source in enumerate(sources) if "configMapRef" in source
    )
    broken_name = f"{config_map}-dbhost"
    original = get("configmap", config_map)

    def apply() -> None:
        broken = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": broken_name, "namespace": NAMESPACE},
            "data": {**original["data"], "OFFGRIDFLOW_DATABASE_HOST": WRONG_DB_HOST},
        }
        kubectl("apply", "-f", "-", stdin=json.dumps(broken))
        path = f"/spec/template/spec/containers/{index}/envFrom/{source_index}/configMapRef/name"
        patch(DEPLOYMENT, [{"op": "replace", "path": path, "value": broken_name}])

    undo = rolled_back()

    def restore() -> None:
        undo()
        kubectl("delete", "configmap", broken_name, "--ignore-not-found")

    record(
        "db-host-missing",
        f"a new ConfigMap with OFFGRIDFLOW_DATABASE_HOST={WRONG_DB_HOST} rolled out: the new pod runs "
        "and is never ready, the old pods serve; the database runs and is ready",
        apply=apply,
        restore=restore,
        shows=(
            f"a new pod runs, is not ready, and its log names {WRONG_DB_HOST}",
            _pod_not_ready_saying(WRONG_DB_HOST),
        ),
    )


def config_key_missing() -> None:
    index = container_index(get(DEPLOYMENT), "api")
    limits = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "offgridflow-limits", "namespace": NAMESPACE},
        "data": {"OFFGRIDFLOW_DB_TIMEOUT_SECONDS": "1.0"},
    }
    env = {
        "name": "OFFGRIDFLOW_DB_POOL_MAX",
        "valueFrom": {"configMapKeyRef": {"name": "offgridflow-limits", "key": "OFFGRIDFLOW_DB_POOL_MAX"}},
    }
    undo = rolled_back()

    def apply() -> None:
        kubectl("apply", "-f", "-", stdin=json.dumps(limits))
        patch(
            DEPLOYMENT, [{"op": "add", "path": f"/spec/template/spec/containers/{index}/env", "value": [env]}]
        )

    def restore() -> None:
        undo()
        kubectl("delete", "configmap", "offgridflow-limits", "--ignore-not-found")

    record(
        "config-key-missing",
        "a rollout taking OFFGRIDFLOW_DB_POOL_MAX from ConfigMap offgridflow-limits, which lacks that key: "
        "the new pod waits in CreateContainerConfigError",
        apply=apply,
        restore=restore,
        shows=("a new pod waits in CreateContainerConfigError", waiting("CreateContainerConfigError")),
    )


def secret_missing() -> None:
    deployment = get(DEPLOYMENT)
    index = container_index(deployment, "api")
    sources = deployment["spec"]["template"]["spec"]["containers"][index].get("envFrom", [])
    source_index = next(i for i, source in enumerate(sources) if "secretRef" in source)
    path = f"/spec/template/spec/containers/{index}/envFrom/{source_index}/secretRef/name"
    record(
        "secret-missing",
        "a rollout taking the API's environment from Secret offgridflow-secrets-v2, which does not exist: "
        "the new pod waits in CreateContainerConfigError",
        apply=lambda: patch(DEPLOYMENT, [{"op": "replace", "path": path, "value": "offgridflow-secrets-v2"}]),
        restore=rolled_back(),
        shows=("a new pod waits in CreateContainerConfigError", waiting("CreateContainerConfigError")),
    )


def _probe_failing(probe: str) -> Callable[[], bool]:
    """The kubelet has reported ``probe`` ("Readiness", "Liveness") failing for an API pod."""

    def check() -> bool:
        events = get("events", "--field-selector", "reason=Unhealthy")["items"]
        return any(f"{probe} probe failed" in str(event.get("message")) for event in events)

    return check


def readiness_wrong_path() -> None:
    index = container_index(get(DEPLOYMENT), "api")
    path = f"/spec/template/spec/containers/{index}/readinessProbe/httpGet/path"
    record(
        "readiness-wrong-path",
        "a rollout with the readiness probe asking /readyz (404): the new pod runs and is never ready",
        apply=lambda: patch(DEPLOYMENT, [{"op": "replace", "path": path, "value": "/readyz"}]),
        restore=rolled_back(),
        shows=("the kubelet reports the readiness probe failing", _probe_failing("Readiness")),
    )


def api_cpu_starved() -> None:
    record(
        "api-cpu-starved",
        "the API's CPU limit and request set to 5m: the new container cannot start within its probes",
        apply=lambda: kubectl(
            "set", "resources", DEPLOYMENT, "-c", "api", "--limits=cpu=5m", "--requests=cpu=5m"
        ),
        restore=rolled_back(),
        shows=("a new API container was restarted", restarted()),
        shows_timeout=300,
    )


def _database_fault(name: str, shows: tuple[str, Callable[[], bool]]) -> Callable[[], None]:
    """A change a DBA makes (``helpers.triage_recording.DATABASE_CHANGES``) as a kind scenario."""

    def scenario() -> None:
        encoded = kubectl(
            "get", "secret", "offgridflow-secrets", "-o", "jsonpath={.data.OFFGRIDFLOW_DATABASE_PASSWORD}"
        )
        apply, restore = database_change(name, base64.b64decode(encoded).decode(), psql, END_API_SESSIONS)
        record(name, DATABASE_CHANGES[name].description, apply=apply, restore=restore, shows=shows)

    return scenario


NOT_READY = ("no API pod is ready (its pool cannot connect)", no_api_pod_ready)
WRITE_REFUSED = ("a write is refused", lambda: write_refused(RECORDER.target()))
DATABASE_FAULTS = {
    name: _database_fault(name, WRITE_REFUSED if change.writes_only else NOT_READY)
    for name, change in DATABASE_CHANGES.items()
}


def oom_and_db_down() -> None:
    down, up = _scaled("statefulset/postgres", NAMESPACE)
    undo = rolled_back()

    def apply() -> None:
        kubectl("set", "resources", DEPLOYMENT, "-c", "api", "--limits=memory=40Mi", "--requests=memory=40Mi")
        wait("a new API container was OOM-killed", restarted("OOMKilled"), 240, interval=2)
        down()

    record(
        "oom-and-db-down",
        "two faults: the API's memory limit set to 40Mi (OOM-killed), then StatefulSet postgres scaled to 0",
        apply=apply,
        restore=lambda: (up(), undo()),
        shows=("no postgres pod is left", lambda: not get("pods", "-l", "app=postgres")["items"]),
    )


def api_scaled_to_zero() -> None:
    down, up = _scaled(DEPLOYMENT, NAMESPACE)
    record(
        "api-scaled-to-zero",
        "deployment/offgridflow-api scaled to 0: no API pod, the URL refuses",
        apply=down,
        restore=up,
        shows=("no API pod is left", lambda: not api_pods()),
    )


def db_unreachable_from_api() -> None:
    selector = get("service", "postgres-service")["spec"]["selector"]

    def endpoints_empty() -> bool:
        return not get("endpoints", "postgres-service").get("subsets") and no_api_pod_ready()

    record(
        "db-unreachable-from-api",
        "postgres-service's selector patched to app=no-such-database: postgres-0 runs and is ready, the "
        "Service has no endpoint, the API cannot reach it",
        apply=lambda: (
            patch(
                "service/postgres-service",
                [{"op": "replace", "path": "/spec/selector", "value": {"app": "no-such-database"}}],
            ),
            # the API's pooled connections outlive a Service change; a blip ends them, and new ones
            # go through the Service
            psql(END_API_SESSIONS),
        ),
        restore=lambda: patch(
            "service/postgres-service", [{"op": "replace", "path": "/spec/selector", "value": selector}]
        ),
        shows=("postgres-service has no endpoint and no API pod is ready", endpoints_empty),
    )


def monitoring_down() -> None:
    down, up = _scaled("deployment/prometheus", "monitoring")
    record(
        "monitoring-down",
        "monitoring's prometheus Deployment scaled to 0: nothing evaluates an alert",
        apply=down,
        restore=up,
        shows=(
            "Prometheus does not answer",
            lambda: not answers(f"{RECORDER.target().prometheus_url}/-/ready"),
        ),
    )


def image_pull_and_alertmanager_down() -> None:
    down, up = _scaled(ALERTMANAGER, "monitoring")
    undo = rolled_back()

    def apply() -> None:
        down()
        wait("Alertmanager does not answer", _alertmanager_gone, 120)
        kubectl("set", "image", DEPLOYMENT, f"api={MISSING_TAG}")

    record(
        "image-pull-and-alertmanager-down",
        f"two faults: alertmanager scaled to 0, then the API's image set to {MISSING_TAG}",
        apply=apply,
        restore=lambda: (undo(), up()),
        shows=("a new pod fails to pull", waiting("ErrImagePull", "ImagePullBackOff")),
    )


SCENARIOS: dict[str, Callable[[], None]] = {
    f.__name__.replace("_", "-"): f
    for f in (
        config_secret_key_missing,
        invalid_image_name,
        api_bad_command,
        alertmanager_scaled_to_zero,
        alert_receiver_down,
        service_target_port_wrong,
        db_host_missing,
        oom_and_db_down,
        api_scaled_to_zero,
        db_unreachable_from_api,
        liveness_wrong_path,
        unschedulable,
        quota_exceeded,
        monitoring_down,
        image_pull_and_alertmanager_down,
        config_key_missing,
        secret_missing,
        readiness_wrong_path,
        api_cpu_starved,
    )
} | DATABASE_FAULTS


def parse_until(text: str) -> time:
    try:
        return time.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time of day HH:MM: {text!r}") from None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Record kind scenarios of the triage corpus, once each.")
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"scenarios (default: all): {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--until", type=parse_until, help="UTC time of day after which no scenario starts")
    args = parser.parse_args(argv)
    if unknown := [name for name in args.names if name not in SCENARIOS]:
        parser.error(f"unknown scenario {unknown[0]!r}")
    if not RECORDER.target().token:
        parser.error(f"no API token in ${RECORDER.target().token_env}: source .state/kind/env first")
    failed: list[str] = []
    for name in args.names or list(SCENARIOS):
        if args.until is not None and datetime.now(UTC).timetz() > args.until:
            print(f"{name}: not started, past --until {args.until:%H:%M} UTC", flush=True)
            continue
        if (OUT / f"{name}.json").exists():
            print(f"{name}: already recorded, kept as it is (a look is taken once)", flush=True)
            continue
        try:
            SCENARIOS[name]()
        except SystemExit as stopped:  # its put-back has run; the next one starts from a quiet cluster
            print(f"{name}: not recorded: {stopped}", flush=True)
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
