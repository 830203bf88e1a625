"""Where the local stack keeps its files, its names and its labels (shared by the stack and the driver)."""

from __future__ import annotations

import os
from pathlib import Path

from offgridflow_runbook.platforms.base import API_WORKLOAD
from offgridflow_runbook.project import project_root

STACK_LABEL = "com.offgridflow.stack"
STACK_VALUE = "local"
CONFIG_HASH_LABEL = "com.offgridflow.config-hash"
INPUTS_HASH_LABEL = "com.offgridflow.inputs-hash"
REVISION_LABEL = "com.offgridflow.revision"
PROFILE_LABEL = "com.offgridflow.prometheus-profile"
# "false": the event recorder does not start the container again after a `docker kill` (the database).
RESTART_AFTER_KILL_LABEL = "com.offgridflow.restart-after-kill"

API = API_WORKLOAD
# The API's "Service": a routing proxy on 127.0.0.1:8080 (where users and probes address the API) that
# forwards to the ready API containers its selector matches (deploy/docker/api_service.py).
API_SERVICE = "offgridflow-api-service"
API_SERVICE_FILE = "api-service.json"  # in .state/: the proxy's selector, read on every connection
API_SERVICE_PORT = 8080
# Where the API container itself listens: only the proxy and the API's own health check address it
# (Prometheus scrapes the metrics port, as it scrapes a pod, not the Service).
API_INTERNAL_PORT = 8082
API_METRICS_PORT = 8081
POSTGRES = "postgres"
EXPORTER = "postgres-exporter"
PROMETHEUS = "prometheus"
ALERTMANAGER = "alertmanager"
RECEIVER = "alert-receiver"
REGISTRY = "registry"
EVENT_RECORDER = "event-recorder"
# the synthetic monitor (offgridflow-runbook monitor): the runbook's read-only checks as metrics
SYNTHETIC_MONITOR = "synthetic-monitor"
ENGINE_EVENTS_FILE = "engine-events.jsonl"

REGISTRY_ADDRESS = "127.0.0.1:5000"
API_REPOSITORY = f"{REGISTRY_ADDRESS}/offgridflow-api"
CURRENT_API_TAG = "v1.3.0"
# The deploy gate's broken candidate (issue 22; never deployed by `up` or the overlays): the same API
# build with the defect switch OFFGRIDFLOW_DEFECT baked in, so it becomes ready but every
# /v1/activities route answers 500 (Verification 3 fails). See docs/architecture.md.
BROKEN_API_TAG = "v1.3.1-broken-activities"
BROKEN_API_DEFECT = "activities-500"
TOOLS_IMAGE = "offgridflow-tools:local"
POSTGRES_IMAGE = "offgridflow-postgres:local"
BASE_IMAGE = "debian:bookworm-slim"
MONITOR_IMAGE = "offgridflow-synthetic-monitor:local"

VOLUMES = {
    POSTGRES: "offgridflow-postgres-data",
    REGISTRY: "offgridflow-registry-data",
    RECEIVER: "offgridflow-alert-receiver-data",
    PROMETHEUS: "offgridflow-prometheus-data",
    ALERTMANAGER: "offgridflow-alertmanager-data",
}

URLS = {
    API: "http://127.0.0.1:8080",
    "metrics": "http://127.0.0.1:8081/metrics",
    "api-instance": "http://127.0.0.1:8082",  # the API container itself, behind the Service
    PROMETHEUS: "http://127.0.0.1:9090",
    ALERTMANAGER: "http://127.0.0.1:9093",
    RECEIVER: "http://127.0.0.1:9095/deliveries",
    EXPORTER: "http://127.0.0.1:9187/metrics",
    REGISTRY: "http://127.0.0.1:5000/v2/",
    "container-restarts": "http://127.0.0.1:9096/metrics",
    SYNTHETIC_MONITOR: "http://127.0.0.1:9097/metrics",
    POSTGRES: "postgresql://offgridflow@127.0.0.1:5432/offgridflow",
}


def state_dir() -> Path:
    """``.state/`` in the project: secrets, rendered configuration, rollout history (gitignored)."""
    path = Path(os.environ.get("OFFGRIDFLOW_STATE_DIR") or project_root() / ".state")
    path.mkdir(parents=True, exist_ok=True)
    return path


def docker_dir() -> Path:
    return project_root() / "deploy" / "docker"


def stack_labels(app: str) -> dict[str, str]:
    return {STACK_LABEL: STACK_VALUE, "app": app}


def alertmanager_secrets_dir() -> Path:
    """``.state/alertmanager-secrets``: put ``pagerduty-primary-routing-key``,
    ``pagerduty-secondary-routing-key`` or ``slack-webhook-url`` here (readable by ``nobody``, the user
    Alertmanager runs as) and run ``make up`` to enable them."""
    return state_dir() / "alertmanager-secrets"
