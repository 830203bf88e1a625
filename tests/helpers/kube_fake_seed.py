"""Seed helpers: objects as the API server holds them for the runbook's namespace."""

from __future__ import annotations

from helpers.kube_fake_api import replica_set_object
from helpers.kube_fake_server import JSON, KubeFake


def container(
    *,
    name: str = "api",
    image: str = "127.0.0.1:5000/offgridflow-api:v1.3.0",
    limits: dict[str, str] | None = None,
    requests: dict[str, str] | None = None,
    config_map: str | None = "offgridflow-config",
) -> JSON:
    spec: JSON = {"name": name, "image": image, "resources": {}}
    if limits:
        spec["resources"]["limits"] = limits
    if requests:
        spec["resources"]["requests"] = requests
    if config_map:
        spec["envFrom"] = [
            {"configMapRef": {"name": config_map}},
            {"secretRef": {"name": "offgridflow-secrets"}},
        ]
    return spec


def pod_template(app: str, containers: list[JSON]) -> JSON:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": containers}}


def add_deployment(fake: KubeFake, template: JSON, *, replicas: int = 2, revision: int = 1) -> JSON:
    return fake.put(
        "apis/apps/v1",
        "deployments",
        {
            "metadata": {
                "name": "offgridflow-api",
                "labels": {"app": "offgridflow-api"},
                "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "offgridflow-api"}},
                "template": template,
            },
            "status": {
                "observedGeneration": 1,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "availableReplicas": replicas,
                "readyReplicas": replicas,
            },
        },
    )


def add_replica_set(
    fake: KubeFake, deployment: JSON, revision: int, template: JSON, template_hash: str
) -> JSON:
    return fake.put(
        "apis/apps/v1", "replicasets", replica_set_object(deployment, revision, template, template_hash)
    )


def add_pod(
    fake: KubeFake,
    name: str,
    *,
    app: str = "offgridflow-api",
    phase: str = "Running",
    ready: bool = True,
    restart_count: int = 0,
    spec_container: JSON | None = None,
    state: JSON | None = None,
    last_state: JSON | None = None,
) -> JSON:
    """A pod whose container ``api`` (or ``postgres``) is in ``state`` (default: running)."""
    spec_container = spec_container or container(name="api" if app == "offgridflow-api" else app)
    status: JSON = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        "containerStatuses": [
            {
                "name": spec_container["name"],
                "image": spec_container["image"],
                "ready": ready,
                "restartCount": restart_count,
                "state": state or {"running": {"startedAt": "2026-01-01T00:00:10Z"}},
                "lastState": last_state or {},
            }
        ],
    }
    return fake.put(
        "api/v1",
        "pods",
        {
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [spec_container]},
            "status": status,
        },
    )


def route_database_to(fake: KubeFake, pod: JSON) -> None:
    """The database Service's endpoints as the endpoints controller writes them for ready ``pod``."""
    fake.put(
        "api/v1",
        "endpoints",
        {
            "metadata": {"name": "postgres-service"},
            "subsets": [
                {
                    "addresses": [
                        {
                            "ip": "10.244.0.9",
                            "targetRef": {
                                "kind": "Pod",
                                "name": pod["metadata"]["name"],
                                "uid": pod["metadata"]["uid"],
                            },
                        }
                    ]
                }
            ],
        },
    )


def seed_runbook_namespace(fake: KubeFake, *, hashed_config: bool = False) -> None:
    """A healthy namespace as the runbook knows it: API at revision 2 (revision 1 ran v1.2.3)."""
    config = {"OFFGRIDFLOW_DB_POOL_MAX": "10", "OFFGRIDFLOW_LOG_LEVEL": "INFO"}
    config_name = "offgridflow-config-aaaaaaaaaa" if hashed_config else "offgridflow-config"
    fake.put("api/v1", "configmaps", {"metadata": {"name": config_name}, "data": config})
    limits = {"memory": "512Mi", "cpu": "500m"}
    requests = {"memory": "256Mi"}
    old = pod_template(
        "offgridflow-api",
        [
            container(
                image="127.0.0.1:5000/offgridflow-api:v1.2.3",
                limits=limits,
                requests=requests,
                config_map=config_name,
            )
        ],
    )
    current = pod_template(
        "offgridflow-api", [container(limits=limits, requests=requests, config_map=config_name)]
    )
    deployment = add_deployment(fake, current, revision=2)
    add_replica_set(fake, deployment, 1, old, "1111111111")
    add_replica_set(fake, deployment, 2, current, "2222222222")
    fake.put(
        "apis/apps/v1",
        "statefulsets",
        {
            "metadata": {"name": "postgres", "labels": {"app": "postgres"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "postgres"}}},
            "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1},
        },
    )
    postgres = add_pod(
        fake,
        "postgres-0",
        app="postgres",
        spec_container=container(name="postgres", image="postgres:15", config_map=None),
    )
    route_database_to(fake, postgres)
    fake.put(
        "api/v1",
        "endpoints",
        {
            "metadata": {"name": "offgridflow-api-service"},
            "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "notReadyAddresses": [{"ip": "127.0.0.2"}]}],
        },
    )
    fake.put(
        "api/v1",
        "services",
        {
            "metadata": {"name": "offgridflow-api-service", "labels": {"app": "offgridflow-api"}},
            "spec": {"selector": {"app": "offgridflow-api"}, "ports": [{"port": 8080}]},
        },
    )
    fake.put("apis/networking.k8s.io/v1", "ingresses", {"metadata": {"name": "offgridflow-api"}})
