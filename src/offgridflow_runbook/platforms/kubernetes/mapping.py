"""Pure translations from Kubernetes API objects (plain JSON dicts) to the platform's values, and
the request bodies and field managers kubectl uses.

Kept apart from the driver so that they can be read against kubectl's own logic: the rollout
status sentences follow kubectl's ``DeploymentStatusViewer``; the undo body follows kubectl's
``DeploymentRollbacker``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

from offgridflow_runbook.platforms.base import (
    API_WORKLOAD,
    Event,
    Revision,
    RolloutStatus,
    Termination,
    Usage,
    Workload,
)

JSON = dict[str, Any]

API_APP = API_WORKLOAD
API_CONTAINER = "api"
DATABASE_APP = "postgres"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
# kubectl's --field-manager defaults, so that managedFields name the same manager as kubectl would.
ROLLOUT_MANAGER = "kubectl-rollout"
PATCH_MANAGER = "kubectl-patch"
SET_MANAGER = "kubectl-set"
CREATE_MANAGER = "kubectl-create"

# kubectl rollout undo keeps these Deployment annotations and never copies them from the ReplicaSet
# (k8s.io/kubectl/pkg/polymorphichelpers/rollback.go, annotationsToSkip).
_UNDO_SKIPPED_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


def restart_patch() -> JSON:
    """``kubectl rollout restart``'s body: the restartedAt annotation, time.RFC3339 in UTC."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now}}}}}


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp from the API (``2026-01-02T03:04:05Z``), or None."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def quantity_bytes(value: str | None) -> int | None:
    """``512Mi`` → 536870912; None when unset."""
    return None if value is None else int(parse_quantity(value))


def quantity_millicores(value: str | None) -> int | None:
    """``500m`` → 500, ``1`` → 1000; None when unset."""
    return None if value is None else int(parse_quantity(value) * 1000)


def _container(spec_containers: Iterable[JSON], preferred: str) -> JSON:
    containers = list(spec_containers)
    for container in containers:
        if container.get("name") == preferred:
            return container
    return containers[0] if containers else {}


def container_name_for(app: str) -> str:
    """The container the runbook means for an app: ``api`` in the API pods, ``postgres`` in the DB."""
    return API_CONTAINER if app == API_APP else app


def pod_to_workload(pod: JSON, app: str) -> Workload:
    """One pod as the runbook reads it in ``kubectl get pods`` / ``kubectl describe pod``."""
    metadata = pod.get("metadata", {})
    spec = pod.get("spec", {})
    status = pod.get("status", {})
    wanted = container_name_for(app)
    container = _container(spec.get("containers", []), wanted)
    container_status = _container(status.get("containerStatuses", []) or [], container.get("name", wanted))
    state = container_status.get("state", {}) or {}
    waiting = state.get("waiting") or {}
    running = state.get("running") or {}
    terminated = (container_status.get("lastState", {}) or {}).get("terminated")
    resources = container.get("resources", {}) or {}
    limits = resources.get("limits", {}) or {}
    requests = resources.get("requests", {}) or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions", []) or []}
    return Workload(
        name=metadata.get("name", ""),
        app=(metadata.get("labels") or {}).get("app", app),
        phase=status.get("phase", "Unknown"),
        ready=conditions.get("Ready") == "True",
        restart_count=int(container_status.get("restartCount", 0)),
        image=container.get("image", ""),
        waiting_reason=waiting.get("reason"),
        waiting_message=waiting.get("message"),
        last_termination=(
            Termination(
                reason=terminated.get("reason", "Error"),
                exit_code=int(terminated.get("exitCode", 0)),
                finished_at=parse_time(terminated.get("finishedAt")),
            )
            if terminated
            else None
        ),
        memory_limit_bytes=quantity_bytes(limits.get("memory")),
        memory_request_bytes=quantity_bytes(requests.get("memory")),
        cpu_limit_millicores=quantity_millicores(limits.get("cpu")),
        started_at=parse_time(running.get("startedAt")),
        uid=metadata.get("uid") or None,
    )


def event_time(event: JSON) -> datetime | None:
    """When an event last happened: what ``--sort-by=.lastTimestamp`` sorts on, with fallbacks."""
    for key in ("lastTimestamp", "eventTime", "firstTimestamp"):
        when = parse_time(event.get(key))
        if when is not None:
            return when
    return parse_time(event.get("metadata", {}).get("creationTimestamp"))


def to_event(event: JSON) -> Event | None:
    """A core/v1 Event; None for one without any timestamp (it cannot be placed on a timeline)."""
    at = event_time(event)
    if at is None:
        return None
    return Event(
        at=at,
        type=event.get("type", "Normal"),
        reason=event.get("reason", ""),
        message=event.get("message", ""),
        involved=(event.get("involvedObject") or {}).get("name", ""),
        involved_uid=(event.get("involvedObject") or {}).get("uid") or None,
    )


def rollout_status(deployment: JSON) -> RolloutStatus:
    """``kubectl rollout status`` for one Deployment, with kubectl's sentences."""
    name = deployment.get("metadata", {}).get("name", "")
    generation = int(deployment.get("metadata", {}).get("generation", 0))
    spec = deployment.get("spec", {})
    status = deployment.get("status", {})
    desired = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    total = int(status.get("replicas", 0))
    failure = next(
        (
            f"{condition.get('reason') or 'ReplicaFailure'}: {condition.get('message') or ''}".rstrip(": ")
            for condition in status.get("conditions", []) or []
            if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True"
        ),
        None,
    )

    def waiting(message: str) -> RolloutStatus:
        return RolloutStatus(False, desired, updated, available, message, failure)

    if generation > int(status.get("observedGeneration", 0)):
        return waiting("Waiting for deployment spec update to be observed...")
    for condition in status.get("conditions", []) or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return waiting(f'deployment "{name}" exceeded its progress deadline')
    if updated < desired:
        return waiting(
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{updated} out of {desired} new replicas have been updated..."
        )
    if total > updated:
        return waiting(
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{total - updated} old replicas are pending termination..."
        )
    if available < updated:
        return waiting(
            f'Waiting for deployment "{name}" rollout to finish: '
            f"{available} of {updated} updated replicas are available..."
        )
    return RolloutStatus(
        True, desired, updated, available, f'deployment "{name}" successfully rolled out', failure
    )


def progress_deadline_exceeded(status: RolloutStatus) -> bool:
    """kubectl stops waiting (and fails) once the Deployment reports ProgressDeadlineExceeded."""
    return status.message.endswith("exceeded its progress deadline")


def revision_number(replica_set: JSON) -> int:
    raw = (replica_set.get("metadata", {}).get("annotations") or {}).get(REVISION_ANNOTATION, "0")
    try:
        return int(raw)
    except ValueError:
        return 0


def owned_by(replica_set: JSON, deployment: JSON) -> bool:
    """Whether the Deployment is the ReplicaSet's controller (kubectl's ``IsControlledBy``)."""
    uid = deployment.get("metadata", {}).get("uid")
    for owner in replica_set.get("metadata", {}).get("ownerReferences", []) or []:
        if owner.get("controller") and owner.get("uid") == uid:
            return True
    return False


def config_map_names(pod_template: JSON) -> list[str]:
    """The ConfigMaps container ``api`` reads through ``envFrom``, in order."""
    container = _container(pod_template.get("spec", {}).get("containers", []), API_CONTAINER)
    return [
        ref["configMapRef"]["name"]
        for ref in container.get("envFrom", []) or []
        if (ref.get("configMapRef") or {}).get("name")
    ]


def to_revision(replica_set: JSON, config: Mapping[str, str]) -> Revision:
    """One ``kubectl rollout history`` line, with what the revision ran with."""
    template = replica_set.get("spec", {}).get("template", {})
    container = _container(template.get("spec", {}).get("containers", []), API_CONTAINER)
    resources = container.get("resources", {}) or {}
    return Revision(
        number=revision_number(replica_set),
        image=container.get("image", ""),
        memory_limit=(resources.get("limits") or {}).get("memory"),
        memory_request=(resources.get("requests") or {}).get("memory"),
        config=dict(config),
        change_cause=(replica_set.get("metadata", {}).get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION),
    )


def undo_patch(deployment: JSON, previous: JSON) -> list[JSON]:
    """kubectl's rollout undo body: a JSON patch replacing the template and the annotations.

    The ReplicaSet's ``pod-template-hash`` label is dropped, as kubectl does, so that the
    Deployment's template equals the revision's original template.
    """
    template = copy.deepcopy(previous.get("spec", {}).get("template", {}))
    labels = template.get("metadata", {}).get("labels")
    if labels:
        labels.pop("pod-template-hash", None)
    current_annotations = deployment.get("metadata", {}).get("annotations") or {}
    annotations = {k: v for k, v in current_annotations.items() if k in _UNDO_SKIPPED_ANNOTATIONS}
    for key, value in (previous.get("metadata", {}).get("annotations") or {}).items():
        if key not in _UNDO_SKIPPED_ANNOTATIONS:
            annotations[key] = value
    return [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": annotations},
    ]


def templates_equal(deployment: JSON, replica_set: JSON) -> bool:
    """kubectl's ``EqualIgnoreHash``: the templates match apart from ``pod-template-hash``."""

    def without_hash(template: JSON) -> JSON:
        template = copy.deepcopy(template)
        (template.get("metadata", {}).get("labels") or {}).pop("pod-template-hash", None)
        return template

    return without_hash(deployment.get("spec", {}).get("template", {})) == without_hash(
        replica_set.get("spec", {}).get("template", {})
    )


def pod_usage(metrics: JSON, limits_by_pod: Mapping[str, int | None]) -> Usage:
    """A metrics.k8s.io PodMetrics as ``kubectl top pod`` shows it (summed over containers)."""
    name = metrics.get("metadata", {}).get("name", "")
    memory = Decimal(0)
    cpu = Decimal(0)
    for container in metrics.get("containers", []) or []:
        usage = container.get("usage", {}) or {}
        memory += parse_quantity(usage.get("memory", "0"))
        cpu += parse_quantity(usage.get("cpu", "0"))
    return Usage(
        name=name,
        memory_bytes=int(memory),
        cpu_millicores=float(cpu * 1000),
        memory_limit_bytes=limits_by_pod.get(name),
    )
