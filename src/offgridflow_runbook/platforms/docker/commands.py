"""The runbook's commands on the local Docker stack: the runbook is written for Kubernetes, so its
``kubectl`` lines do not run here; for each one this platform says what the suite does instead
(the container, the ``docker`` command or the :class:`~offgridflow_runbook.platforms.Platform`
method), so triage and drift show the runbook's line with its Docker equivalent."""

from __future__ import annotations

from dataclasses import dataclass

from offgridflow_runbook.platforms.commands import RunbookLine

__all__ = ["COMMANDS", "DOCKER_EQUIVALENTS", "DockerCommands"]

# (runbook step or "*", the command's start with "-n offgridflow" removed, what the docker platform
# does instead, with {base_url}, {metrics_url}, {image} and {good_image} of the RunbookLine filled
# in); the first match wins. A command without an entry is shown as the runbook has it.
DOCKER_EQUIVALENTS: tuple[tuple[str, str, str], ...] = (
    ("*", "kubectl get pods -l app=offgridflow-api", "docker ps -a --filter label=app=offgridflow-api"),
    ("*", "kubectl get pods -l app=postgres", "docker ps -a --filter label=app=postgres"),
    (
        "Fix 4",
        "kubectl describe pod",
        "docker pull {image} (the registry answers 'manifest unknown' for a missing tag)",
    ),
    ("Triage 2C", "kubectl describe pod", "docker inspect -f '{{{{.HostConfig.Memory}}}}' offgridflow-api"),
    ("*", "kubectl describe pod", "docker inspect offgridflow-api"),
    ("*", "kubectl logs -l app=offgridflow-api --tail=100", "docker logs --tail 100 offgridflow-api"),
    (
        "*",
        "kubectl logs -l app=offgridflow-api --previous",
        "the previous run's part of docker logs offgridflow-api",
    ),
    ("*", "kubectl logs statefulset/postgres", "docker logs --tail 50 postgres"),
    ("*", "kubectl exec", "docker exec postgres pg_isready -h 127.0.0.1 -p 5432"),
    ("*", "kubectl top pods", "docker stats --no-stream offgridflow-api"),
    ("*", "watch kubectl top pods", "docker stats offgridflow-api"),
    (
        "*",
        "kubectl get ingress",
        "no Ingress on Docker: the API's Service offgridflow-api-service (a routing proxy) listens on "
        "127.0.0.1:8080, the API's metrics on :8081 (host network)",
    ),
    (
        "*",
        "kubectl get endpoints",
        "cat .state/api-service.json (the Service's selector; no file: app=offgridflow-api) and docker ps "
        "--filter label=app=offgridflow-api (the containers it selects); curl -sf {base_url}/health/live; "
        "curl -sf {metrics_url} (the published ports)",
    ),
    (
        "*",
        "kubectl rollout restart deployment/offgridflow-api",
        "the docker platform replaces the offgridflow-api container (Platform.rollout_restart)",
    ),
    ("*", "kubectl rollout status", "waits until the new container is healthy (Platform.wait_rollout)"),
    ("*", "kubectl get secret", "docker inspect offgridflow-api (env, secrets shown as ***)"),
    (
        "*",
        "kubectl rollout restart statefulset/postgres",
        "docker start/restart postgres (Platform.restart_database)",
    ),
    (
        "*",
        "kubectl wait",
        "docker exec postgres pg_isready -h 127.0.0.1 -p 5432 until ready (Platform.wait_database_ready)",
    ),
    ("*", "kubectl get events", "docker inspect -f '{{{{.State.OOMKilled}}}}' offgridflow-api"),
    (
        "*",
        "kubectl patch deployment",
        "recreates offgridflow-api with the new memory limit and reservation (Platform.patch_memory)",
    ),
    ("*", "kubectl get configmap", "docker inspect offgridflow-api (its OFFGRIDFLOW_* env)"),
    ("*", "kubectl rollout history", "the revisions the docker platform keeps (Platform.rollout_history)"),
    (
        "*",
        "kubectl rollout undo",
        "recreates offgridflow-api from the previous revision (Platform.rollout_undo)",
    ),
    ("*", "kubectl set image", "recreates offgridflow-api from {good_image} (Platform.set_image)"),
)


@dataclass(frozen=True)
class DockerCommands:
    """No ``kubectl`` on the local stack; each runbook line's Docker equivalent from
    :data:`DOCKER_EQUIVALENTS`. No Ingress: the Service (a routing proxy) is the whole path;
    ``pg_isready`` runs in the database's own container; no API container means the stack is down."""

    runs_kubectl: bool = False
    has_ingress: bool = False
    pg_isready_from_api: bool = False
    no_api_instance: str | None = "no offgridflow-api container (is the local stack up? make up)"

    def instead(self, line: RunbookLine) -> str:
        """What the docker platform does instead of ``line`` (the line itself when nothing is known)."""
        for step, start, instead in DOCKER_EQUIVALENTS:
            if step in ("*", line.step) and line.text.startswith(start):
                values = {"base_url": line.base_url, "metrics_url": line.metrics_url, "image": line.image}
                if "{good_image}" in instead:  # only then is the runbook's Fix 4 read
                    values["good_image"] = line.good_image()
                return instead.format(**values)
        return line.rendered


COMMANDS = DockerCommands()
