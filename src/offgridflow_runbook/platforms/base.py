"""The runbook's operations, independent of how a target is reached.

Every platform (``docker`` for the local stack, ``kubernetes`` for kind or any cluster) implements
:class:`Platform`. Checks, triage, faults and fixes only ever talk to this protocol, so the same
check or experiment runs on both. The names follow the runbook (``kubectl`` verbs), and each
method's docstring says what it maps to on each platform.

Values are plain frozen dataclasses so that results can be rendered into reports and JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from offgridflow_runbook.platforms.identity import SeenIdentity

__all__ = [
    "API_WORKLOAD",
    "CHANGE_METHODS",
    "CRASH_POSTGRES",
    "CommandResult",
    "Event",
    "NetworkStatus",
    "Platform",
    "PlatformChanges",
    "PlatformError",
    "PlatformReads",
    "Revision",
    "RolloutStatus",
    "Termination",
    "Usage",
    "Workload",
    "label_selector",
]


# The runbook's API on every platform: its Deployment and the pods' ``app`` label on Kubernetes, its
# container and that label on Docker. Both drivers and the judging side read it from here.
API_WORKLOAD = "offgridflow-api"

# The server stops at once without a checkpoint, as if it crashed; its container exits with it. As the
# database's own user, from inside its container, on both platforms (``$PGDATA`` is set in both images).
CRASH_POSTGRES = ("sh", "-c", 'exec pg_ctl stop -D "$PGDATA" -m immediate')


# The methods that change a target (the "change" section of Platform, and the Kubernetes driver's
# ConfigMap scheme switches); every other one reads or waits. The chaos guard's tests hold every
# activity that calls one of these to the guard.
CHANGE_METHODS = frozenset(
    {
        "rollout_restart",
        "patch_memory",
        "set_image",
        "rollout_undo",
        "update_config",
        "kill_database",
        "crash_database",
        "restart_database",
        "set_api_service_selector",
        "adopt_in_place_config",
        "adopt_hashed_config",
    }
)


def label_selector(labels: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """Labels as ``kubectl -l`` takes them and the suite shows a selector: ``a=b,c=d``, sorted."""
    items = labels.items() if isinstance(labels, Mapping) else labels
    return ",".join(f"{key}={value}" for key, value in sorted(items))


class PlatformError(Exception):
    """An operation could not be carried out; the message is meant for the user (no traceback)."""


@dataclass(frozen=True)
class Termination:
    """How a container's previous run ended (``lastState.terminated`` / Docker's ``State``)."""

    reason: str  # "OOMKilled", "Error", "Completed"
    exit_code: int
    finished_at: datetime | None = None

    @property
    def oom_killed(self) -> bool:
        return self.reason == "OOMKilled"


@dataclass(frozen=True)
class Workload:
    """One API or database instance: a pod (Kubernetes) or a container (Docker)."""

    name: str
    app: str  # the ``app`` label: "offgridflow-api" or "postgres"
    phase: str  # "Running", "Pending", "Failed", "Succeeded", "Unknown"
    ready: bool
    restart_count: int
    image: str
    waiting_reason: str | None = None  # "CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", ...
    waiting_message: str | None = None  # e.g. the registry's "manifest unknown"
    last_termination: Termination | None = None
    memory_limit_bytes: int | None = None
    memory_request_bytes: int | None = None
    cpu_limit_millicores: int | None = None
    started_at: datetime | None = None
    uid: str | None = None  # the pod's UID / the container's ID: one instance, whatever its name


@dataclass(frozen=True)
class Event:
    """A platform event (namespace events on Kubernetes, engine events on Docker)."""

    at: datetime
    type: str  # "Normal" or "Warning"
    reason: str  # "OOMKilled", "Failed", "BackOff", "Killing", "Pulled", "ScalingReplicaSet", ...
    message: str
    involved: str  # the object's name
    involved_uid: str | None = None  # its UID / container ID, when the platform says


@dataclass(frozen=True)
class Usage:
    """``kubectl top`` for one workload, with its limit (metrics API / ``docker stats``)."""

    name: str
    memory_bytes: int
    cpu_millicores: float
    memory_limit_bytes: int | None


@dataclass(frozen=True)
class CommandResult:
    """The outcome of a command run on the API's side (``kubectl exec`` / ``docker exec``)."""

    command: tuple[str, ...]
    exit_code: int
    output: str


@dataclass(frozen=True)
class NetworkStatus:
    """Runbook 2D: how traffic reaches the API."""

    ingresses: tuple[str, ...]  # Ingress names (Kubernetes); empty on Docker
    ready_endpoints: int  # ready addresses of offgridflow-api-service / answering published ports
    not_ready_endpoints: int
    published: tuple[str, ...] = ()  # "127.0.0.1:8080" on Docker
    detail: str = ""
    # the API Service's selector (Docker: the routing proxy's), sorted items; None: could not be read
    service_selector: tuple[tuple[str, str], ...] | None = None
    # how many API instances that selector matches, ready or not; None: unknown
    selected_pods: int | None = None


@dataclass(frozen=True)
class RolloutStatus:
    """``kubectl rollout status``: whether the latest revision is fully available."""

    complete: bool
    desired: int
    updated: int
    available: int
    message: str  # the kubectl-style sentence
    # The Deployment's ReplicaFailure condition, "reason: message", while its controller cannot create
    # a pod (a ResourceQuota, an admission webhook, PodSecurity); the controller drops it once one is
    # made. None where there is none (and on Docker, where nothing refuses a container's creation).
    failure: str | None = None


@dataclass(frozen=True)
class Revision:
    """One entry of ``kubectl rollout history``: what a revision of the API ran with."""

    number: int
    image: str
    memory_limit: str | None = None
    memory_request: str | None = None
    config: Mapping[str, str] = field(default_factory=dict)
    change_cause: str | None = None


@runtime_checkable
class PlatformReads(Protocol):
    """What the runbook's steps read from an environment, one method per read-only runbook command:
    all that judging (Triage, Verification, diagnose, drift, the monitor) needs."""

    kind: ClassVar[str]  # "docker" or "kubernetes"

    def api_workloads(self) -> list[Workload]:
        """``kubectl get pods -l app=offgridflow-api``: every API instance, newest revision included."""
        ...

    def database_workloads(self) -> list[Workload]:
        """``kubectl get pods -l app=postgres``."""
        ...

    def events(self, since: datetime | None = None) -> list[Event]:
        """Namespace events (oldest first), optionally only those at or after ``since``."""
        ...

    def api_logs(self, *, tail: int = 100, previous: bool = False) -> dict[str, str]:
        """``kubectl logs -l app=offgridflow-api --tail=N [--previous]``, keyed by workload name.

        With ``previous``, only workloads that have a previous run appear.
        """
        ...

    def database_logs(self, *, tail: int = 50) -> str:
        """``kubectl logs statefulset/postgres --tail=N``."""
        ...

    def pg_isready(self) -> CommandResult:
        """``pg_isready -h postgres-service -p 5432`` run from the API's side."""
        ...

    def resource_usage(self) -> list[Usage]:
        """``kubectl top pods -l app=offgridflow-api`` with each limit."""
        ...

    def network(self) -> NetworkStatus:
        """``kubectl get ingress`` and ``kubectl get endpoints offgridflow-api-service``."""
        ...

    def api_service_selector(self) -> dict[str, str]:
        """``kubectl get service offgridflow-api-service -o jsonpath='{.spec.selector}'``: the labels
        the API Service routes to (Docker: the routing proxy's selector). PlatformError when it cannot
        be read."""
        ...

    def rollout_status(self) -> RolloutStatus:
        """``kubectl rollout status deployment/offgridflow-api`` without waiting."""
        ...

    def rollout_history(self) -> list[Revision]:
        """``kubectl rollout history deployment/offgridflow-api``, oldest first."""
        ...

    def config(self) -> dict[str, str]:
        """``kubectl get configmap offgridflow-config``: the configuration the API currently runs with."""
        ...

    def identity(self, *, contact: bool = True) -> SeenIdentity:
        """What this client is connected to (see ``platforms.identity``). With ``contact`` False only
        the client's own configuration is read (no request leaves the suite): the kubeconfig's context,
        cluster and server, the Docker engine endpoint; with True also the node names / the stack's
        container labels, asked from the system itself."""
        ...

    def close(self) -> None:
        """Release clients and connections."""
        ...


@runtime_checkable
class PlatformChanges(Protocol):
    """The changes the faults and the runbook's fixes make (only on targets that allow chaos), and
    the waits that follow them."""

    def rollout_restart(self) -> None:
        """``kubectl rollout restart deployment/offgridflow-api`` (returns once started)."""
        ...

    def wait_rollout(self, timeout: float = 120.0) -> RolloutStatus:
        """``kubectl rollout status --timeout``: wait until complete or the deadline passes."""
        ...

    def patch_memory(self, *, limit: str = "2Gi", request: str = "1Gi") -> None:
        """Fix 2: set container ``api``'s memory limit and request (rolls out a new revision)."""
        ...

    def set_image(self, image: str) -> None:
        """Fix 4 / the bad-image fault: ``kubectl set image deployment/offgridflow-api api=IMAGE``."""
        ...

    def rollout_undo(self) -> None:
        """Fix 3: ``kubectl rollout undo``: roll back to the previous revision's template."""
        ...

    def update_config(self, changes: Mapping[str, str]) -> None:
        """Write ``changes`` into ``offgridflow-config`` and roll the API out with it."""
        ...

    def kill_database(self) -> None:
        """The DB-kill fault: delete the postgres pod (1 s of grace, then SIGKILL) / kill the postgres
        container (SIGKILL)."""
        ...

    def crash_database(self) -> None:
        """Crash the PostgreSQL server in place (``pg_ctl stop -m immediate`` in its container): the
        container exits and the platform's restart policy decides when it runs again."""
        ...

    def restart_database(self) -> None:
        """Fix 1: ``kubectl rollout restart statefulset/postgres`` (start it if it is down)."""
        ...

    def set_api_service_selector(self, selector: Mapping[str, str]) -> None:
        """Replace the API Service's selector whole (``kubectl patch service offgridflow-api-service
        --type=json`` replacing ``/spec/selector``; Docker: the routing proxy's). Old keys do not
        survive, and setting the selector it already has changes nothing."""
        ...

    def wait_database_ready(self, timeout: float = 300.0) -> None:
        """``kubectl wait --for=condition=ready pod -l app=postgres``; PlatformError on timeout."""
        ...


@runtime_checkable
class Platform(PlatformReads, PlatformChanges, Protocol):
    """A driver: the reads the runbook's steps need and the changes chaos and the fixes make."""
