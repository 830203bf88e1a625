"""What each container of the stack is created with, and creating it only when that changed.

Every container uses the host network with its service bound to 127.0.0.1, carries the stack label,
and a hash of its creation arguments (``com.offgridflow.config-hash``) so that ``up`` recreates only
what changed and a second ``up`` does nothing.

Every container restarts as a pod does (``unless-stopped``: after a crash, an OOM kill and an engine
restart, with Docker's back-off; not after an operator's ``docker stop``), and keeps its data on a
named volume, never a tmpfs, so a restart loses neither rows, TSDB, silences nor deliveries.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
from typing import TYPE_CHECKING, Any

from offgridflow_runbook.alerting import SECRETS_MOUNT
from offgridflow_runbook.alerting.profiles import MONITOR_EVERY, prometheus_flags  # one per profile, kind too
from offgridflow_runbook.platforms.docker.names import (
    ALERTMANAGER,
    API,
    API_INTERNAL_PORT,
    API_SERVICE,
    API_SERVICE_FILE,
    API_SERVICE_PORT,
    CONFIG_HASH_LABEL,
    ENGINE_EVENTS_FILE,
    EVENT_RECORDER,
    EXPORTER,
    MONITOR_IMAGE,
    POSTGRES,
    POSTGRES_IMAGE,
    PROFILE_LABEL,
    PROMETHEUS,
    RECEIVER,
    REGISTRY,
    RESTART_AFTER_KILL_LABEL,
    REVISION_LABEL,
    STACK_VALUE,
    SYNTHETIC_MONITOR,
    TOOLS_IMAGE,
    VOLUMES,
    alertmanager_secrets_dir,
    stack_labels,
    state_dir,
)
from offgridflow_runbook.platforms.docker.revisions import StoredRevision, database_password, secrets_env

if TYPE_CHECKING:
    # the SDK is imported by the functions that create containers, when called: the driver's reads
    # (every check run) use the engine's API with httpx and never need it
    import docker
    from docker.models.containers import Container
from offgridflow_runbook.project import project_root

Spec = dict[str, Any]

_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_FACTORS = {
    None: 1,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (``512Mi``, ``2Gi``) in bytes."""
    match = _QUANTITY.match(quantity.strip())
    if not match:
        raise ValueError(f"not a memory quantity: {quantity!r} (expected e.g. 512Mi or 2Gi)")
    return int(float(match.group(1)) * _FACTORS[match.group(2)])


# Kubernetes restarts a pod's containers whatever their exit code (restartPolicy: Always); Docker's
# closest policy that still respects an operator's `docker stop` across an engine restart.
RESTART_POLICY = {"Name": "unless-stopped", "MaximumRetryCount": 0}


def _base(app: str, image: str, **extra: Any) -> Spec:
    common: Spec = {"name": app, "image": image, "network_mode": "host", "labels": stack_labels(app)}
    common["detach"] = True
    common["restart_policy"] = dict(RESTART_POLICY)
    return common | extra


def api_spec(revision: StoredRevision) -> Spec:
    """The API container for one rollout revision: its image, memory and ``offgridflow-config``.

    It listens on the internal port whatever the revision's configuration says: 127.0.0.1:8080 is
    the Service's (the routing proxy), as a pod's port is the Deployment's and not the ConfigMap's."""
    limit = quantity_bytes(revision.memory_limit)
    spec = _base(
        API,
        revision.image,
        environment=revision.config | secrets_env() | {"OFFGRIDFLOW_HTTP_PORT": str(API_INTERNAL_PORT)},
        mem_limit=limit,
        memswap_limit=limit,  # no swap: over the limit means the kernel's OOM killer, as in a pod
        mem_reservation=quantity_bytes(revision.memory_request),
    )
    spec["labels"] = spec["labels"] | {REVISION_LABEL: str(revision.number)}
    return spec


def postgres_spec() -> Spec:
    spec = _base(
        POSTGRES,
        POSTGRES_IMAGE,
        environment={
            "OFFGRIDFLOW_DATABASE_USER": "offgridflow",
            "OFFGRIDFLOW_DATABASE_NAME": "offgridflow",
            "OFFGRIDFLOW_DATABASE_PASSWORD": database_password(),
        },
        volumes={VOLUMES[POSTGRES]: {"bind": "/var/lib/postgresql/data", "mode": "rw"}},
        stop_signal="SIGINT",
    )
    # `docker kill` (the DB-kill fault) cancels Docker's restart policy and the event recorder leaves
    # this one down: a killed database stays down until Fix 1. A crash or an engine restart does not.
    spec["labels"] = spec["labels"] | {RESTART_AFTER_KILL_LABEL: "false"}
    return spec


def registry_spec() -> Spec:
    config = state_dir() / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: /data\n"
        "  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:5000\n",
        encoding="utf-8",
    )
    return _base(
        REGISTRY,
        TOOLS_IMAGE,
        command=["docker-registry", "serve", "/etc/offgridflow/registry.yml"],
        volumes={
            VOLUMES[REGISTRY]: {"bind": "/data", "mode": "rw"},
            str(config): {"bind": "/etc/offgridflow/registry.yml", "mode": "ro"},
        },
    )


def event_recorder_spec() -> Spec:
    """Streams the stack's container events into ``.state/`` (the engine keeps only its last 256)."""
    return _base(
        EVENT_RECORDER,
        TOOLS_IMAGE,
        command=["event-recorder"],
        user="root",  # to read the Docker socket
        environment={"EVENT_RECORDER_FILE": f"/state/{ENGINE_EVENTS_FILE}"},
        volumes={
            "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "ro"},
            str(state_dir()): {"bind": "/state", "mode": "rw"},
        },
    )


def api_service_spec() -> Spec:
    """The API's Service: the routing proxy on 127.0.0.1:8080 (deploy/docker/api_service.py).

    Root for the Docker socket's sake (it asks which API containers are ready), read-only, as is
    ``.state/`` (it reads the selector there; the docker driver writes it)."""
    return _base(
        API_SERVICE,
        TOOLS_IMAGE,
        command=["api-service"],
        user="root",
        environment={
            "API_SERVICE_PORT": str(API_SERVICE_PORT),
            "API_SERVICE_TARGET_PORT": str(API_INTERNAL_PORT),
            "API_SERVICE_FILE": f"/state/{API_SERVICE_FILE}",
        },
        volumes={
            "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "ro"},
            str(state_dir()): {"bind": "/state", "mode": "ro"},
        },
    )


def exporter_spec() -> Spec:
    source = f"postgresql://offgridflow:{database_password()}@127.0.0.1:5432/offgridflow?sslmode=disable"
    return _base(
        EXPORTER,
        TOOLS_IMAGE,
        command=["prometheus-postgres-exporter", "--web.listen-address=127.0.0.1:9187"],
        environment={"DATA_SOURCE_NAME": source},
    )


def receiver_spec() -> Spec:
    return _base(
        RECEIVER,
        TOOLS_IMAGE,
        command=["alert-receiver"],
        environment={"ALERT_RECEIVER_PORT": "9095", "ALERT_RECEIVER_FILE": "/data/deliveries.json"},
        volumes={VOLUMES[RECEIVER]: {"bind": "/data", "mode": "rw"}},
    )


# -- the synthetic monitor (offgridflow-runbook monitor; docs/synthetic-monitor.md) ---------------------
MONITOR_PORT = 9097
MONITOR_HEALTH_URL = f"http://127.0.0.1:{MONITOR_PORT}/healthz"


def synthetic_monitor_spec(profile: str) -> Spec:
    """The runbook's read-only checks against the target ``local`` as metrics on 127.0.0.1:9097.

    Root for the Docker socket's sake (Verification 1 lists the API's containers), as the event
    recorder; the socket, the targets file and ``.state/`` are mounted read-only."""
    return _base(
        SYNTHETIC_MONITOR,
        MONITOR_IMAGE,
        command=[
            "monitor",
            "--target",
            STACK_VALUE,
            "--every",
            MONITOR_EVERY[profile],
            "--listen",
            f"127.0.0.1:{MONITOR_PORT}",
        ],
        user="root",
        environment={
            "OFFGRIDFLOW_TARGETS": "/etc/offgridflow-monitor/targets.yaml",
            "OFFGRIDFLOW_STATE_DIR": "/state",
            # Verification 3's bearer token: the first of the API's tokens
            "OFFGRIDFLOW_TOKEN": secrets_env()["OFFGRIDFLOW_API_TOKENS"].split(",")[0],
        },
        volumes={
            "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "ro"},
            str(project_root() / "targets.yaml"): {
                "bind": "/etc/offgridflow-monitor/targets.yaml",
                "mode": "ro",
            },
            str(state_dir()): {"bind": "/state", "mode": "ro"},
        },
    )


def prometheus_spec(profile: str, digest: str) -> Spec:
    folder = state_dir() / "prometheus"
    spec = _base(
        PROMETHEUS,
        TOOLS_IMAGE,
        command=[
            "prometheus",
            "--config.file=/etc/offgridflow/prometheus/prometheus.yml",
            "--web.listen-address=127.0.0.1:9090",
            "--storage.tsdb.path=/prometheus",
            # Verification 5 reads 5 minutes back; two days keep a game day's history, not the disk.
            "--storage.tsdb.retention.time=2d",
            "--web.enable-lifecycle",
            *prometheus_flags(profile),
        ],
        volumes={
            str(folder): {"bind": "/etc/offgridflow/prometheus", "mode": "ro"},
            VOLUMES[PROMETHEUS]: {"bind": "/prometheus", "mode": "rw"},
        },
    )
    spec["labels"] = spec["labels"] | {PROFILE_LABEL: profile, "com.offgridflow.rendered": digest}
    return spec


def alertmanager_spec(digest: str) -> Spec:
    folder = state_dir() / "prometheus"
    secrets = alertmanager_secrets_dir()
    if not secrets.exists():
        # Alertmanager runs as nobody: only it (and root) may read the keys put here.
        secrets.mkdir(mode=0o700)
        nobody = pwd.getpwnam("nobody")
        os.chown(secrets, nobody.pw_uid, nobody.pw_gid)
    spec = _base(
        ALERTMANAGER,
        TOOLS_IMAGE,
        command=[
            "prometheus-alertmanager",
            "--config.file=/etc/offgridflow/prometheus/alertmanager.yml",
            "--web.listen-address=127.0.0.1:9093",
            "--storage.path=/alertmanager",
            "--cluster.listen-address=",
        ],
        volumes={
            str(folder): {"bind": "/etc/offgridflow/prometheus", "mode": "ro"},
            VOLUMES[ALERTMANAGER]: {"bind": "/alertmanager", "mode": "rw"},
            str(secrets): {"bind": SECRETS_MOUNT, "mode": "ro"},
        },
    )
    spec["labels"] = spec["labels"] | {"com.offgridflow.rendered": digest}
    return spec


def spec_hash(client: docker.DockerClient, spec: Spec) -> str:
    """The creation arguments and the image's id: what a container must be recreated for."""
    image_id = client.images.get(spec["image"]).id
    # The revision number is bookkeeping: undoing to the running template must not replace the container.
    labels = {key: value for key, value in spec["labels"].items() if key != REVISION_LABEL}
    payload = json.dumps({**spec, "labels": labels}, sort_keys=True, default=str) + image_id
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def find(client: docker.DockerClient, name: str) -> Container | None:
    from docker.errors import NotFound

    try:
        return client.containers.get(name)
    except NotFound:
        return None


def remove(client: docker.DockerClient, name: str, *, timeout: int = 10) -> None:
    from docker.errors import NotFound

    container = find(client, name)
    if container is None:
        return
    try:
        if container.status in ("running", "restarting"):
            container.stop(timeout=timeout)
        container.remove(force=True)
    except NotFound:
        pass


def ensure(client: docker.DockerClient, spec: Spec) -> tuple[Container, str]:
    """The container as ``spec`` says, started; returns it and what was done (kept/started/created)."""
    wanted = spec_hash(client, spec)
    existing = find(client, spec["name"])
    if existing is not None and existing.labels.get(CONFIG_HASH_LABEL) == wanted:
        if existing.status in ("running", "restarting"):
            return existing, "kept"
        existing.start()
        return existing, "started"
    remove(client, spec["name"])
    labelled = {**spec, "labels": {**spec["labels"], CONFIG_HASH_LABEL: wanted}}
    return client.containers.run(**labelled), "created"


class PullError(Exception):
    """The registry refused an image; the message is the registry's (e.g. ``manifest unknown``)."""


def pull(client: docker.DockerClient, reference: str) -> None:
    """Pull ``reference`` from its registry: containers are only ever created from a pulled image."""
    from docker.errors import APIError

    repository, tag = reference.rsplit(":", 1)
    try:
        client.images.pull(repository, tag=tag)
    except APIError as error:
        raise PullError(str(error.explanation or error)) from None
