"""The runbook's commands per section, rendered for one target.

The commands are the runbook's own (parsed by :mod:`offgridflow_runbook.runbook`), so an edited
runbook changes what triage prints. For a target, ``-n offgridflow`` becomes its namespace (and kube
context), the runbook's API host its base URL (``:8081/metrics`` its metrics URL), and the image
repository that of the running image. On Docker targets each line keeps its ``kubectl`` form and
says what the suite does instead on the local stack (the docker platform driver's equivalent),
because the runbook itself is written for Kubernetes.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from offgridflow_runbook.targets import Target

if TYPE_CHECKING:  # the parser is imported where the runbook is read: triage of a healthy target never is
    from offgridflow_runbook.runbook.document import Command

__all__ = [
    "DOCKER_EQUIVALENTS",
    "docker_equivalent",
    "known_good_tag",
    "render_command",
    "render_commands",
    "target_url",
]

# (runbook step or "*", the command's start with "-n offgridflow" removed, what the docker platform
# does instead); the first match wins. A command without an entry is shown as the runbook has it.
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

_RUNBOOK_NAMESPACE = re.compile(r"(?<!\S)-n offgridflow(?!\S)")
_URL = re.compile(r"https?://[^\s'\"|]+")
_IMAGE = re.compile(r"(?<![\w/.-])([\w.-]+(?::\d+)?/[\w./-]*offgridflow-api):([\w][\w.-]*)")
_JSON_ARGUMENT = re.compile(r"'(\s*[\[{].*?[\]}]\s*)'")
METRICS_PORT = 8081


def _compact_json(match: re.Match[str]) -> str:
    """A JSON payload the runbook spreads over lines, on one line (``kubectl patch -p '{...}'``)."""
    try:
        return "'" + json.dumps(json.loads(match.group(1)), separators=(",", ":")) + "'"
    except ValueError:
        return match.group(0)


def known_good_tag() -> str:
    """The tag Fix 4 sets (``kubectl set image ... api=<repository>:<tag>``)."""
    from offgridflow_runbook.runbook.document import load_runbook

    for command in load_runbook().step("Fix 4").commands:
        if command.argv[:3] == ("kubectl", "set", "image"):
            for arg in command.argv:
                if arg.startswith("api=") and (match := _IMAGE.search(arg)):
                    return match.group(2)
    raise LookupError("the runbook's Fix 4 sets no image tag (kubectl set image ... api=<image>:<tag>)")


def target_url(url: str, target: Target) -> str:
    """The runbook's URL on ``target``: its API host -> ``base_url``, ``:8081/metrics`` -> ``metrics_url``."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    base = target.base_url.rstrip("/")
    if parts.port == METRICS_PORT:
        if target.metrics_url:
            metrics = urlsplit(target.metrics_url)
            return f"{metrics.scheme}://{metrics.netloc}{path}"
        host = urlsplit(base)
        return f"{host.scheme}://{host.hostname}:{METRICS_PORT}{path}"
    return base + path


def docker_equivalent(command: Command, target: Target, *, image: str | None = None) -> str | None:
    """What the docker platform does instead of ``command`` on ``target`` (None: nothing known)."""
    plain = " ".join(_RUNBOOK_NAMESPACE.sub("", command.text).split())
    for step, start, instead in DOCKER_EQUIVALENTS:
        if step in ("*", command.step) and plain.startswith(start):
            return instead.format(
                base_url=target.base_url.rstrip("/"),
                metrics_url=target.metrics_url or target_url(f"http://api:{METRICS_PORT}/metrics", target),
                image=image or "ghcr.io/your-org/offgridflow-api:latest",
                good_image=_good_image(image, known_good_tag()),
            )
    return None


def _good_image(image: str | None, tag: str) -> str:
    repository = (image or "ghcr.io/your-org/offgridflow-api:latest").rsplit("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return f"{repository}:{tag}"


def render_command(command: Command, target: Target, *, image: str | None = None) -> str:
    """One runbook command for ``target`` (see the module docstring)."""
    ns = f"-n {shlex.quote(target.namespace)}"
    if target.kube_context:
        ns += f" --context {shlex.quote(target.kube_context)}"
    line = _RUNBOOK_NAMESPACE.sub(lambda _: ns, command.text)
    line = _JSON_ARGUMENT.sub(_compact_json, line)
    line = _URL.sub(lambda m: target_url(m.group(0), target), line)
    if image:
        line = _IMAGE.sub(lambda m: image if m.group(2) == "latest" else _good_image(image, m.group(2)), line)
    if target.platform == "docker":
        instead = docker_equivalent(command, target, image=image)
        if instead is not None and instead != line:
            line += f"    # on docker: {instead}"
    return line


def render_commands(section: str, target: Target, *, image: str | None = None) -> list[str]:
    """The commands of runbook ``section`` for ``target`` (empty for a section without commands)."""
    from offgridflow_runbook.runbook.document import load_runbook

    runbook = load_runbook()
    if not any(step.id == section for step in runbook.steps):
        return []
    return [render_command(c, target, image=image) for c in runbook.step(section).commands]
