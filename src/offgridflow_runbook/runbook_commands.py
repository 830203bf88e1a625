"""The runbook's commands per section, rendered for one target.

On Kubernetes targets the ``kubectl`` lines get the target's namespace and context. On Docker
targets each line keeps its ``kubectl`` form and says what the suite does instead on the local stack
(the docker platform driver's equivalent), because the runbook itself is written for Kubernetes.
"""

from __future__ import annotations

import shlex

from offgridflow_runbook.targets import Target

__all__ = ["KNOWN_GOOD_TAG", "SECTIONS", "render_commands"]

KNOWN_GOOD_TAG = "v1.2.3"

# section -> [(kubectl form, what the suite does on the Docker platform)]
SECTIONS: dict[str, list[tuple[str, str]]] = {
    "Triage 1": [
        ("curl -f {base_url}/health/live", "curl -f {base_url}/health/live"),
        ("kubectl get pods {ns} -l app=offgridflow-api", "docker ps -a --filter label=app=offgridflow-api"),
        ("kubectl describe pod {ns} -l app=offgridflow-api", "docker inspect offgridflow-api"),
        ("kubectl logs {ns} -l app=offgridflow-api --tail=100", "docker logs --tail 100 offgridflow-api"),
    ],
    "Triage 2D": [
        (
            "kubectl get ingress {ns}",
            "no Ingress on Docker: the API publishes 127.0.0.1:8080 and :8081 (host network)",
        ),
        (
            "kubectl get endpoints {ns} offgridflow-api-service",
            "curl -sf {base_url}/health/live; curl -sf {metrics_url} (the published ports)",
        ),
    ],
    "Quick Fix": [
        (
            "kubectl rollout restart deployment/offgridflow-api {ns}",
            "the docker platform replaces the offgridflow-api container (Platform.rollout_restart)",
        ),
        (
            "kubectl rollout status deployment/offgridflow-api {ns}",
            "waits until the new container is healthy (Platform.wait_rollout)",
        ),
    ],
    "Fix 1": [
        ("kubectl get pods {ns} -l app=postgres", "docker ps -a --filter label=app=postgres"),
        (
            "kubectl get secret offgridflow-secrets {ns} -o yaml",
            "docker inspect offgridflow-api (env, secrets shown as ***)",
        ),
        (
            "kubectl rollout restart statefulset/postgres {ns}",
            "docker start/restart postgres (Platform.restart_database)",
        ),
        (
            "kubectl wait --for=condition=ready pod -l app=postgres {ns} --timeout=300s",
            "docker exec postgres pg_isready -h 127.0.0.1 -p 5432 until ready (Platform.wait_database_ready)",
        ),
        (
            "kubectl rollout restart deployment/offgridflow-api {ns}",
            "the docker platform replaces the offgridflow-api container (Platform.rollout_restart)",
        ),
    ],
    "Fix 2": [
        (
            "kubectl get events {ns} --sort-by='.lastTimestamp' | grep OOMKilled",
            "docker inspect -f '{{{{.State.OOMKilled}}}}' offgridflow-api",
        ),
        (
            "kubectl patch deployment offgridflow-api {ns} -p "
            """'{{"spec":{{"template":{{"spec":{{"containers":[{{"name":"api","resources":"""
            """{{"limits":{{"memory":"2Gi"}},"requests":{{"memory":"1Gi"}}}}}}]}}}}}}}}'""",
            "recreates offgridflow-api with memory limit 2Gi, reservation 1Gi (Platform.patch_memory)",
        ),
        ("kubectl top pods {ns} -l app=offgridflow-api", "docker stats --no-stream offgridflow-api"),
    ],
    "Fix 3": [
        (
            "kubectl get configmap offgridflow-config {ns} -o yaml",
            "docker inspect offgridflow-api (its OFFGRIDFLOW_* env)",
        ),
        (
            "kubectl rollout history deployment/offgridflow-api {ns}",
            "the revisions the docker platform keeps (Platform.rollout_history)",
        ),
        (
            "kubectl rollout undo deployment/offgridflow-api {ns}",
            "recreates offgridflow-api from the previous revision (Platform.rollout_undo)",
        ),
        (
            "kubectl rollout status deployment/offgridflow-api {ns}",
            "waits until the container is healthy (Platform.wait_rollout)",
        ),
    ],
    "Fix 4": [
        (
            "kubectl describe pod {ns} -l app=offgridflow-api | grep 'Failed to pull image'",
            "docker pull {image} (the registry answers 'manifest unknown' for a missing tag)",
        ),
        ("docker pull {image}", "docker pull {image}"),
        (
            "kubectl set image deployment/offgridflow-api {ns} api={good_image}",
            "recreates offgridflow-api from {good_image} (Platform.set_image)",
        ),
    ],
}


def _known_good(image: str | None) -> str:
    repository = (image or "ghcr.io/your-org/offgridflow-api:latest").rsplit("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return f"{repository}:{KNOWN_GOOD_TAG}"


def render_commands(section: str, target: Target, *, image: str | None = None) -> list[str]:
    """The commands of runbook ``section`` for ``target`` (empty for a section without commands)."""
    ns = f"-n {shlex.quote(target.namespace)}"
    if target.kube_context:
        ns += f" --context {shlex.quote(target.kube_context)}"
    values = {
        "ns": ns,
        "base_url": target.base_url.rstrip("/"),
        "metrics_url": target.metrics_url or target.base_url.rstrip("/") + ":8081/metrics",
        "image": image or "ghcr.io/your-org/offgridflow-api:latest",
        "good_image": _known_good(image),
    }
    rendered = []
    for kubectl, docker in SECTIONS.get(section, []):
        line = kubectl.format(**values)
        if target.platform == "docker" and docker.format(**values) != line:
            line += f"    # on docker: {docker.format(**values)}"
        rendered.append(line)
    return rendered
