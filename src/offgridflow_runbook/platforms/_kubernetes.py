"""The Kubernetes platform: the runbook's kubectl commands, made with the official ``kubernetes`` client.

Each method sends the requests the runbook's kubectl command sends (same verbs, paths, patch
types and bodies), so that what the suite verifies is what an operator following the runbook
would do. ``tests/kubernetes`` compares the requests with kubectl's, request by request.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from kubernetes.client import AppsV1Api, CoreV1Api, CustomObjectsApi, NetworkingV1Api

from offgridflow_runbook.platforms import _kubernetes_mapping as mapping
from offgridflow_runbook.platforms._kubernetes_client import BadRequest, NotFound, connect
from offgridflow_runbook.platforms._kubernetes_exec import run_in_pod
from offgridflow_runbook.platforms.base import (
    CommandResult,
    Event,
    NetworkStatus,
    PlatformError,
    Revision,
    RolloutStatus,
    Usage,
    Workload,
)
from offgridflow_runbook.targets import Target

__all__ = ["CONFIG_MAP", "ConfigUpdate", "KubernetesPlatform"]

JSON = dict[str, Any]

DEPLOYMENT = "offgridflow-api"
STATEFULSET = "postgres"
SERVICE = "offgridflow-api-service"
CONFIG_MAP = "offgridflow-config"
PG_ISREADY = ("pg_isready", "-h", "postgres-service", "-p", "5432")
# kubectl's --field-manager defaults, so that managedFields name the same manager as kubectl would.
_ROLLOUT_MANAGER = "kubectl-rollout"
_PATCH_MANAGER = "kubectl-patch"
_SET_MANAGER = "kubectl-set"
_CREATE_MANAGER = "kubectl-create"
_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class ConfigUpdate:
    """How :meth:`KubernetesPlatform.update_config` changed the configuration, for the game day.

    ``hashed``: a new ConfigMap ``offgridflow-config-<hash>`` was created and the Deployment now
    points at it, so ``rollout undo`` brings the old configuration back. ``in-place``: the data of
    ``offgridflow-config`` was edited and the API restarted, so ``rollout undo`` does NOT restore
    the old values (the previous revision reads the same, edited ConfigMap).
    """

    scheme: Literal["hashed", "in-place"]
    config_map: str
    previous_config_map: str

    @property
    def undo_restores_config(self) -> bool:
        return self.scheme == "hashed"


def _now_rfc3339() -> str:
    # kubectl writes time.Now().Format(time.RFC3339); in UTC that is second precision with "Z".
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _selector(match_labels: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(match_labels.items()))


def _restart_patch() -> JSON:
    return {
        "spec": {"template": {"metadata": {"annotations": {mapping.RESTARTED_AT_ANNOTATION: _now_rfc3339()}}}}
    }


def hashed_config_map_name(data: Mapping[str, str]) -> str:
    """``offgridflow-config-<hash>``: the name changes whenever the data does (kustomize's scheme)."""
    digest = hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()
    return f"{CONFIG_MAP}-{digest[:10]}"


class KubernetesPlatform:
    """The runbook's operations on one namespace of one cluster (kind, staging, production)."""

    kind: ClassVar[str] = "kubernetes"

    def __init__(self, target: Target) -> None:
        self.target = target
        self.namespace = target.namespace
        self._connection = connect(target)
        client = self._connection.client
        self._core = CoreV1Api(client)
        self._apps = AppsV1Api(client)
        self._networking = NetworkingV1Api(client)
        self._custom = CustomObjectsApi(client)
        self.last_config_update: ConfigUpdate | None = None

    def _call(self, action: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        return self._connection.call(action, function, *args, **kwargs)

    # -- reads -----------------------------------------------------------------------------
    def _pods(self, app: str) -> list[JSON]:
        body = self._call(
            f"list pods -l app={app}",
            self._core.list_namespaced_pod,
            self.namespace,
            label_selector=f"app={app}",
        )
        return sorted(body.get("items", []), key=lambda pod: pod.get("metadata", {}).get("name", ""))

    def _deployment(self) -> JSON:
        result: JSON = self._call(
            f"get deployment {DEPLOYMENT}", self._apps.read_namespaced_deployment, DEPLOYMENT, self.namespace
        )
        return result

    def api_workloads(self) -> list[Workload]:
        return [mapping.pod_to_workload(pod, mapping.API_APP) for pod in self._pods(mapping.API_APP)]

    def database_workloads(self) -> list[Workload]:
        return [
            mapping.pod_to_workload(pod, mapping.DATABASE_APP) for pod in self._pods(mapping.DATABASE_APP)
        ]

    def events(self, since: datetime | None = None) -> list[Event]:
        body = self._call("list events", self._core.list_namespaced_event, self.namespace)
        events = [event for raw in body.get("items", []) if (event := mapping.to_event(raw)) is not None]
        if since is not None:
            since = since if since.tzinfo else since.replace(tzinfo=UTC)  # the API's times are UTC
            events = [event for event in events if event.at >= since]
        return sorted(events, key=lambda event: event.at)

    def _pod_log(self, pod: str, container: str, *, tail: int, previous: bool) -> str:
        options: dict[str, Any] = {"container": container, "tail_lines": tail}
        if previous:
            options["previous"] = "true"  # as kubectl spells it (the client would send "True")
        text = self._call(
            f"read the logs of pod {pod}", self._core.read_namespaced_pod_log, pod, self.namespace, **options
        )
        return text if isinstance(text, str) else json.dumps(text)

    def api_logs(self, *, tail: int = 100, previous: bool = False) -> dict[str, str]:
        logs: dict[str, str] = {}
        for pod in self._pods(mapping.API_APP):
            name = pod["metadata"]["name"]
            if previous and mapping.pod_to_workload(pod, mapping.API_APP).last_termination is None:
                continue  # kubectl would answer "previous terminated container not found"
            try:
                logs[name] = self._pod_log(name, mapping.API_CONTAINER, tail=tail, previous=previous)
            except BadRequest:
                # A container still waiting to start (ImagePullBackOff) has no logs yet, and a
                # previous container may be gone meanwhile: the other pods' logs still count.
                continue
        return logs

    def database_logs(self, *, tail: int = 50) -> str:
        pods = self._pods(mapping.DATABASE_APP)
        if not pods:
            raise PlatformError(f"no postgres pod in namespace {self.namespace!r} to read logs from")
        # kubectl logs statefulset/postgres reads the first pod of the set.
        return self._pod_log(pods[0]["metadata"]["name"], mapping.DATABASE_APP, tail=tail, previous=False)

    def _exec_pod(self) -> str:
        pods = self._pods(mapping.API_APP)
        running = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
        ready = [p for p in running if mapping.pod_to_workload(p, mapping.API_APP).ready]
        chosen = (ready or running)[:1]
        if not chosen:
            raise PlatformError(
                f"no running {DEPLOYMENT} pod in namespace {self.namespace!r} to run pg_isready in"
            )
        return str(chosen[0]["metadata"]["name"])

    def pg_isready(self) -> CommandResult:
        pod = self._exec_pod()
        return run_in_pod(self._connection, pod, mapping.API_CONTAINER, PG_ISREADY)

    def resource_usage(self) -> list[Usage]:
        selector = f"app={mapping.API_APP}"
        try:
            body = self._call(
                "read pod metrics (metrics.k8s.io)",
                self._custom.list_namespaced_custom_object,
                "metrics.k8s.io",
                "v1beta1",
                self.namespace,
                "pods",
                label_selector=selector,
            )
        except NotFound:
            raise PlatformError(
                f"{self._connection.where}: the metrics API (metrics.k8s.io) is not available; "
                "kubectl top needs metrics-server in the cluster"
            ) from None
        limits = {w.name: w.memory_limit_bytes for w in self.api_workloads()}
        return [mapping.pod_usage(item, limits) for item in body.get("items", [])]

    def network(self) -> NetworkStatus:
        ingresses = self._call("list ingresses", self._networking.list_namespaced_ingress, self.namespace)
        names = tuple(sorted(i.get("metadata", {}).get("name", "") for i in ingresses.get("items", [])))
        try:
            endpoints = self._call(
                f"get endpoints {SERVICE}", self._core.read_namespaced_endpoints, SERVICE, self.namespace
            )
        except NotFound:
            return NetworkStatus(names, 0, 0, detail=f"service {SERVICE} has no Endpoints object")
        subsets = endpoints.get("subsets", []) or []
        ready = sum(len(s.get("addresses", []) or []) for s in subsets)
        not_ready = sum(len(s.get("notReadyAddresses", []) or []) for s in subsets)
        detail = "" if ready else f"service {SERVICE} has no ready endpoints"
        return NetworkStatus(names, ready, not_ready, detail=detail)

    def rollout_status(self) -> RolloutStatus:
        return mapping.rollout_status(self._deployment())

    def _replica_sets(self, deployment: JSON) -> list[JSON]:
        match_labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels", {})
        body = self._call(
            "list replicasets",
            self._apps.list_namespaced_replica_set,
            self.namespace,
            label_selector=_selector(match_labels),
        )
        owned = [rs for rs in body.get("items", []) if mapping.owned_by(rs, deployment)]
        return sorted(owned, key=mapping.revision_number)

    def _config_map(self, name: str) -> JSON | None:
        try:
            read = self._core.read_namespaced_config_map
            body: JSON = self._call(f"get configmap {name}", read, name, self.namespace)
        except NotFound:
            return None
        return body

    def _config_map_data(self, name: str) -> dict[str, str] | None:
        body = self._config_map(name)
        return None if body is None else dict(body.get("data") or {})

    def rollout_history(self) -> list[Revision]:
        revisions = []
        for replica_set in self._replica_sets(self._deployment()):
            data: dict[str, str] = {}
            for name in mapping.config_map_names(replica_set.get("spec", {}).get("template", {})):
                data.update(self._config_map_data(name) or {})
            revisions.append(mapping.to_revision(replica_set, data))
        return revisions

    def _config_map_name(self, deployment: JSON) -> str:
        names = mapping.config_map_names(deployment.get("spec", {}).get("template", {}))
        return next((n for n in names if n == CONFIG_MAP or n.startswith(f"{CONFIG_MAP}-")), CONFIG_MAP)

    def config_scheme(self) -> Literal["hashed", "in-place"]:
        """``hashed`` when the Deployment reads ``offgridflow-config-<hash>``, else ``in-place``."""
        return "in-place" if self._config_map_name(self._deployment()) == CONFIG_MAP else "hashed"

    def config(self) -> dict[str, str]:
        name = self._config_map_name(self._deployment())
        data = self._config_map_data(name)
        if data is None:
            raise PlatformError(f"configmap {name} (read by {DEPLOYMENT}) not found in {self.namespace!r}")
        return data

    # -- changes ---------------------------------------------------------------------------
    def _patch_deployment(self, action: str, body: Any, manager: str | None) -> None:
        # A dict body goes out as a strategic merge patch, a list as a JSON patch (the client's rule).
        options = {"field_manager": manager} if manager else {}
        self._call(
            action, self._apps.patch_namespaced_deployment, DEPLOYMENT, self.namespace, body, **options
        )

    def rollout_restart(self) -> None:
        deployment = self._deployment()
        if deployment.get("spec", {}).get("paused"):
            raise PlatformError(f"can't restart paused deployment {DEPLOYMENT} (run rollout resume first)")
        self._patch_deployment(f"restart deployment {DEPLOYMENT}", _restart_patch(), _ROLLOUT_MANAGER)

    def wait_rollout(self, timeout: float = 120.0) -> RolloutStatus:
        deadline = time.monotonic() + timeout
        status = self.rollout_status()
        while not status.complete and not mapping.progress_deadline_exceeded(status):
            if time.monotonic() >= deadline:
                break
            time.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            status = self.rollout_status()
        return status

    def patch_memory(self, *, limit: str = "2Gi", request: str = "1Gi") -> None:
        body = {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": mapping.API_CONTAINER,
                                "resources": {"limits": {"memory": limit}, "requests": {"memory": request}},
                            }
                        ]
                    }
                }
            }
        }
        self._patch_deployment(f"patch the memory of {DEPLOYMENT}", body, _PATCH_MANAGER)

    def set_image(self, image: str) -> None:
        deployment = self._deployment()
        containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        if not any(c.get("name") == mapping.API_CONTAINER for c in containers):
            raise PlatformError(f"deployment {DEPLOYMENT} has no container {mapping.API_CONTAINER!r}")
        # kubectl set image sends the two-way strategic merge patch between the old and new object.
        body = {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [{"name": c.get("name")} for c in containers],
                        "containers": [{"image": image, "name": mapping.API_CONTAINER}],
                    }
                }
            }
        }
        self._patch_deployment(f"set the image of {DEPLOYMENT}", body, _SET_MANAGER)

    def rollout_undo(self) -> None:
        deployment = self._deployment()
        if deployment.get("spec", {}).get("paused"):
            raise PlatformError(f"you cannot rollback a paused deployment; resume {DEPLOYMENT} first")
        replica_sets = self._replica_sets(deployment)
        if len(replica_sets) < 2:
            raise PlatformError(f"no rollout history found for deployment {DEPLOYMENT}: nothing to undo to")
        previous = replica_sets[-2]
        if mapping.templates_equal(deployment, previous):
            return  # kubectl: "skipped rollback (current template already matches revision N)"
        self._patch_deployment(
            f"roll back {DEPLOYMENT}", mapping.undo_patch(deployment, previous), manager=None
        )

    def update_config(self, changes: Mapping[str, str]) -> None:
        """Write ``changes`` the way the Deployment reads its configuration; see :class:`ConfigUpdate`."""
        deployment = self._deployment()
        current = self._config_map_name(deployment)
        config_map = self._config_map(current)
        if config_map is None:
            raise PlatformError(f"configmap {current} (read by {DEPLOYMENT}) not found in {self.namespace!r}")
        if current == CONFIG_MAP:
            self._call(
                f"edit configmap {CONFIG_MAP}",
                self._core.patch_namespaced_config_map,
                CONFIG_MAP,
                self.namespace,
                {"data": dict(changes)},
                field_manager=_PATCH_MANAGER,
            )
            self.rollout_restart()
            self.last_config_update = ConfigUpdate("in-place", CONFIG_MAP, CONFIG_MAP)
            return
        new_name = self._create_config_map(
            {**(config_map.get("data") or {}), **changes}, config_map, hashed=True
        )
        self._point_at_config_map(deployment, current, new_name)
        self.last_config_update = ConfigUpdate("hashed", new_name, current)

    def adopt_in_place_config(self) -> None:
        """Make the API read a plain ``offgridflow-config`` (same data) instead of a hashed one.

        Rolls out a new revision. Afterwards :meth:`update_config` edits in place, so the game day
        can show that ``rollout undo`` then does not restore the configuration.
        """
        deployment = self._deployment()
        current = self._config_map_name(deployment)
        if current == CONFIG_MAP:
            return
        config_map = self._config_map(current)
        if config_map is None:
            raise PlatformError(f"configmap {current} (read by {DEPLOYMENT}) not found in {self.namespace!r}")
        self._create_config_map(dict(config_map.get("data") or {}), config_map, hashed=False)
        self._point_at_config_map(deployment, current, CONFIG_MAP)

    def _create_config_map(self, data: Mapping[str, str], like: JSON, *, hashed: bool) -> str:
        """``kubectl create configmap`` (kept if it exists): hashed name, or plain and overwritten."""
        name = hashed_config_map_name(data) if hashed else CONFIG_MAP
        existing = self._config_map(name)
        if existing is not None and hashed:
            return name  # the same data already has this name
        if existing is not None:
            self._call(
                f"edit configmap {name}",
                self._core.patch_namespaced_config_map,
                name,
                self.namespace,
                {"data": dict(data)},
                field_manager=_PATCH_MANAGER,
            )
            return name
        labels = dict(like.get("metadata", {}).get("labels") or {})
        self._call(
            f"create configmap {name}",
            self._core.create_namespaced_config_map,
            self.namespace,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": labels},
                "data": data,
            },
            field_manager=_CREATE_MANAGER,
        )
        return name

    def _point_at_config_map(self, deployment: JSON, old: str, new: str) -> None:
        self._patch_deployment(
            f"point {DEPLOYMENT} at configmap {new}",
            self._env_from_patch(deployment, old, new),
            _PATCH_MANAGER,
        )

    @staticmethod
    def _env_from_patch(deployment: JSON, old: str, new: str) -> JSON:
        template = deployment.get("spec", {}).get("template", {})
        containers = template.get("spec", {}).get("containers", [])
        api = next(c for c in containers if c.get("name") == mapping.API_CONTAINER)
        env_from = [
            {**ref, "configMapRef": {**ref["configMapRef"], "name": new}}
            if (ref.get("configMapRef") or {}).get("name") == old
            else ref
            for ref in api.get("envFrom", [])
        ]
        # envFrom has no merge key, so a strategic merge patch replaces the whole list.
        return {
            "spec": {
                "template": {"spec": {"containers": [{"name": mapping.API_CONTAINER, "envFrom": env_from}]}}
            }
        }

    def kill_database(self) -> None:
        pods = self._pods(mapping.DATABASE_APP)
        if not pods:
            raise PlatformError(f"no postgres pod in namespace {self.namespace!r} to kill")
        for pod in pods:
            name = pod["metadata"]["name"]
            try:
                # kubectl delete pod --grace-period=0 --force: no SIGTERM grace, like a crash.
                self._call(
                    f"delete pod {name}",
                    self._core.delete_namespaced_pod,
                    name,
                    self.namespace,
                    body={"gracePeriodSeconds": 0, "propagationPolicy": "Background"},
                )
            except NotFound:
                continue  # already gone: the goal is reached

    def restart_database(self) -> None:
        action = f"restart statefulset {STATEFULSET}"
        statefulset = self._call(
            f"get statefulset {STATEFULSET}",
            self._apps.read_namespaced_stateful_set,
            STATEFULSET,
            self.namespace,
        )
        body = _restart_patch()
        if statefulset.get("spec", {}).get("replicas", 1) == 0:
            body["spec"]["replicas"] = 1  # "start it if it is down"
        self._call(
            action,
            self._apps.patch_namespaced_stateful_set,
            STATEFULSET,
            self.namespace,
            body,
            field_manager=_ROLLOUT_MANAGER,
        )

    def _database_ready(self) -> tuple[bool, str]:
        statefulset = self._call(
            f"get statefulset {STATEFULSET}",
            self._apps.read_namespaced_stateful_set,
            STATEFULSET,
            self.namespace,
        )
        spec_replicas = int(statefulset.get("spec", {}).get("replicas", 1))
        status = statefulset.get("status", {})
        generation = int(statefulset.get("metadata", {}).get("generation", 0))
        if generation > int(status.get("observedGeneration", 0)):
            return False, "the statefulset's spec update is not observed yet"
        update, current = status.get("updateRevision"), status.get("currentRevision")
        if update and current and update != current:
            return False, f"the statefulset is still rolling out ({current} → {update})"
        workloads = self.database_workloads()
        ready = [w for w in workloads if w.ready]
        if len(ready) < max(spec_replicas, 1) or len(ready) != len(workloads):
            return False, f"{len(ready)} of {max(spec_replicas, 1)} postgres pods ready"
        return True, "postgres ready"

    def wait_database_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        ready, why = self._database_ready()
        while not ready:
            if time.monotonic() >= deadline:
                raise PlatformError(f"postgres not ready after {timeout:.0f}s: {why}")
            time.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            ready, why = self._database_ready()

    def close(self) -> None:
        self._connection.close()
