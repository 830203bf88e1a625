"""The Kubernetes platform: the runbook's kubectl commands, made with the official ``kubernetes`` client.

Each method sends the requests the runbook's kubectl command sends (same verbs, paths, patch
types and bodies), so that what the suite verifies is what an operator following the runbook
would do. ``tests/platforms/kubernetes`` compares the requests with kubectl's, request by request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from kubernetes.client import AppsV1Api, CoreV1Api, CustomObjectsApi, NetworkingV1Api

from offgridflow_runbook.platforms.base import (
    CommandResult,
    Event,
    NetworkStatus,
    PlatformError,
    Revision,
    RolloutStatus,
    Usage,
    Workload,
    label_selector,
)
from offgridflow_runbook.platforms.identity import SeenIdentity
from offgridflow_runbook.platforms.kubernetes import mapping
from offgridflow_runbook.platforms.kubernetes.client import BadRequest, NotFound, connect
from offgridflow_runbook.platforms.kubernetes.config import (
    CONFIG_MAP,
    ConfigMaps,
    ConfigUpdate,
    Scheme,
    config_map_name,
    env_from_patch,
    hashed_config_map_name,
    scheme_of,
)
from offgridflow_runbook.platforms.kubernetes.database import SERVICE as DATABASE_SERVICE
from offgridflow_runbook.platforms.kubernetes.database import PostgresStatefulSet
from offgridflow_runbook.platforms.kubernetes.exec import run_in_pod
from offgridflow_runbook.targets import Target

__all__ = ["CONFIG_MAP", "ConfigUpdate", "KubernetesPlatform", "hashed_config_map_name"]

JSON = dict[str, Any]

DEPLOYMENT = mapping.API_APP
SERVICE = "offgridflow-api-service"
PG_ISREADY = ("pg_isready", "-h", DATABASE_SERVICE, "-p", "5432")
KUBELET_LOGS_GONE = "unable to retrieve container logs for "
_POLL_SECONDS = 1.0


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
        self._config_maps = ConfigMaps(self._call, self._core, self.namespace)
        self._postgres = PostgresStatefulSet(
            self._call, self._core, self._apps, self.namespace, lambda: self._pods(mapping.DATABASE_APP)
        )
        self.last_config_update: ConfigUpdate | None = None
        # kubectl's answer to the last rollout_undo, e.g. "skipped rollback (current template ...)".
        self.last_undo: str | None = None

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
        read = self._core.read_namespaced_pod_log
        return self._connection.text(f"read the logs of pod {pod}", read, pod, self.namespace, **options)

    def api_logs(self, *, tail: int = 100, previous: bool = False) -> dict[str, str]:
        logs: dict[str, str] = {}
        unreadable: list[str] = []
        for pod in self._pods(mapping.API_APP):
            name = pod["metadata"]["name"]
            if previous and mapping.pod_to_workload(pod, mapping.API_APP).last_termination is None:
                continue  # kubectl would answer "previous terminated container not found"
            try:
                text = self._pod_log(name, mapping.API_CONTAINER, tail=tail, previous=previous)
            except BadRequest:
                # A container still waiting to start (ImagePullBackOff) has no logs yet, and a
                # previous container may be gone meanwhile: the other pods' logs still count.
                continue
            if text.startswith(KUBELET_LOGS_GONE):
                # kubelet answers 200 with this text when the container's log file is gone (on kind,
                # seen right after a restart): that is no log, and must not pass for one
                unreadable.append(f"{name}: {text.strip()[:200]}")
                continue
            logs[name] = text
        if unreadable:
            which = "previous logs" if previous else "logs"
            raise PlatformError(
                f"{self._connection.where}: could not read the {which} of {'; '.join(unreadable)}"
            )
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

    def _service(self) -> JSON:
        result: JSON = self._call(
            f"get service {SERVICE}", self._core.read_namespaced_service, SERVICE, self.namespace
        )
        return result

    def api_service_selector(self) -> dict[str, str]:
        try:
            service = self._service()
        except NotFound:
            raise PlatformError(f"service {SERVICE} not found in namespace {self.namespace!r}") from None
        return {str(k): str(v) for k, v in (service.get("spec", {}).get("selector") or {}).items()}

    def api_pod_selector(self) -> dict[str, str]:
        """``kubectl get deployment offgridflow-api -o jsonpath='{.spec.selector.matchLabels}'``: the
        labels the Deployment's pods carry by construction, what the API Service must select."""
        labels = self._deployment().get("spec", {}).get("selector", {}).get("matchLabels") or {}
        return {str(key): str(value) for key, value in labels.items()}

    def _selection(self) -> tuple[tuple[tuple[str, str], ...] | None, int | None, str]:
        """The Service's selector (sorted items) and how many API pods it matches, ready or not;
        (None, None, why) when the Service cannot be read: the endpoints still count on their own."""
        try:
            selector = self.api_service_selector()
        except PlatformError as error:
            return None, None, f"selector unreadable: {error}"
        if not selector:
            # a Service without a selector gets no endpoints from the controller: it selects nothing
            return (), 0, ""
        pods = self._pods(mapping.API_APP)
        matched = sum(
            1 for pod in pods if selector.items() <= (pod.get("metadata", {}).get("labels") or {}).items()
        )
        return tuple(sorted(selector.items())), matched, ""

    def network(self) -> NetworkStatus:
        ingresses = self._call("list ingresses", self._networking.list_namespaced_ingress, self.namespace)
        names = tuple(sorted(i.get("metadata", {}).get("name", "") for i in ingresses.get("items", [])))
        try:
            endpoints: JSON | None = self._call(
                f"get endpoints {SERVICE}", self._core.read_namespaced_endpoints, SERVICE, self.namespace
            )
        except NotFound:
            endpoints = None
        subsets = (endpoints or {}).get("subsets", []) or []
        ready = sum(len(s.get("addresses", []) or []) for s in subsets)
        not_ready = sum(len(s.get("notReadyAddresses", []) or []) for s in subsets)
        selector, selected, unreadable = self._selection()
        if endpoints is None:
            missing = f"service {SERVICE} has no Endpoints object"
        else:
            missing = "" if ready else f"service {SERVICE} has no ready endpoints"
        return NetworkStatus(
            names,
            ready,
            not_ready,
            detail="; ".join(filter(None, [missing, unreadable])),
            service_selector=selector,
            selected_pods=selected,
        )

    def rollout_status(self) -> RolloutStatus:
        return mapping.rollout_status(self._deployment())

    def _replica_sets(self, deployment: JSON) -> list[JSON]:
        match_labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels", {})
        body = self._call(
            "list replicasets",
            self._apps.list_namespaced_replica_set,
            self.namespace,
            label_selector=label_selector(match_labels),
        )
        owned = [rs for rs in body.get("items", []) if mapping.owned_by(rs, deployment)]
        return sorted(owned, key=mapping.revision_number)

    def rollout_history(self) -> list[Revision]:
        revisions = []
        for replica_set in self._replica_sets(self._deployment()):
            data: dict[str, str] = {}
            for name in mapping.config_map_names(replica_set.get("spec", {}).get("template", {})):
                data.update(self._config_maps.data(name) or {})
            revisions.append(mapping.to_revision(replica_set, data))
        return revisions

    def config_scheme(self) -> Scheme:
        """``hashed`` when the Deployment reads ``offgridflow-config-<hash>``, else ``in-place``."""
        return scheme_of(config_map_name(self._deployment()))

    def config(self) -> dict[str, str]:
        name = config_map_name(self._deployment())
        data = self._config_maps.data(name)
        if data is None:
            raise PlatformError(f"configmap {name} (read by {DEPLOYMENT}) not found in {self.namespace!r}")
        return data

    def identity(self, *, contact: bool = True) -> SeenIdentity:
        """The kubeconfig's context, its cluster and the API server URL the client loaded; with
        ``contact`` also the node names (``kubectl get nodes``)."""
        nodes: tuple[str, ...] | None = None
        if contact:
            body = self._call("list nodes", self._core.list_node)
            nodes = tuple(
                sorted(str(item.get("metadata", {}).get("name", "")) for item in body.get("items", []))
            )
        return SeenIdentity(
            platform=self.kind,
            context=self._connection.context,
            cluster=self._connection.cluster,
            api_server=self._connection.host,
            nodes=nodes,
        )

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
        self._patch_deployment(
            f"restart deployment {DEPLOYMENT}", mapping.restart_patch(), mapping.ROLLOUT_MANAGER
        )

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
        self._patch_deployment(f"patch the memory of {DEPLOYMENT}", body, mapping.PATCH_MANAGER)

    def set_image(self, image: str) -> None:
        deployment = self._deployment()
        containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        api = next((c for c in containers if c.get("name") == mapping.API_CONTAINER), None)
        if api is None:
            raise PlatformError(f"deployment {DEPLOYMENT} has no container {mapping.API_CONTAINER!r}")
        if api.get("image") == image:
            return  # kubectl sends nothing when the patch would be empty
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
        self._patch_deployment(f"set the image of {DEPLOYMENT}", body, mapping.SET_MANAGER)

    def rollout_undo(self) -> None:
        deployment = self._deployment()
        if deployment.get("spec", {}).get("paused"):
            raise PlatformError(f"you cannot rollback a paused deployment; resume {DEPLOYMENT} first")
        replica_sets = self._replica_sets(deployment)
        if len(replica_sets) < 2:
            raise PlatformError(f"no rollout history found for deployment {DEPLOYMENT}: nothing to undo to")
        previous = replica_sets[-2]
        number = mapping.revision_number(previous)
        if mapping.templates_equal(deployment, previous):
            self.last_undo = f"skipped rollback (current template already matches revision {number})"
            return
        self._patch_deployment(
            f"roll back {DEPLOYMENT}", mapping.undo_patch(deployment, previous), manager=None
        )
        self.last_undo = f"rolled back to the template of revision {number}"

    def update_config(self, changes: Mapping[str, str]) -> None:
        """Write ``changes`` the way the Deployment reads its configuration; see :class:`ConfigUpdate`."""
        deployment = self._deployment()
        current = config_map_name(deployment)
        config_map = self._config_maps.get(current)
        if config_map is None:
            raise PlatformError(f"configmap {current} (read by {DEPLOYMENT}) not found in {self.namespace!r}")
        if scheme_of(current) == "in-place":
            self._config_maps.edit(CONFIG_MAP, changes)
            self.rollout_restart()
            self.last_config_update = ConfigUpdate("in-place", CONFIG_MAP, CONFIG_MAP)
            return
        data = {**(config_map.get("data") or {}), **changes}
        new_name = self._config_maps.create(data, config_map, hashed=True)
        self._point_at_config_map(deployment, current, new_name)
        self.last_config_update = ConfigUpdate("hashed", new_name, current)

    def adopt_in_place_config(self) -> None:
        """Make the API read a plain ``offgridflow-config`` (same data) instead of a hashed one.

        Rolls out a new revision. Afterwards :meth:`update_config` edits in place, so the game day
        can show that ``rollout undo`` then does not restore the configuration.
        """
        self._switch_config_scheme("in-place")

    def adopt_hashed_config(self) -> None:
        """Undo :meth:`adopt_in_place_config`: the API reads ``offgridflow-config-<hash>`` (same data)
        again and the plain ``offgridflow-config`` is deleted, as kustomize's overlay deploys it."""
        self._switch_config_scheme("hashed")

    def _switch_config_scheme(self, scheme: Scheme) -> None:
        deployment = self._deployment()
        current = config_map_name(deployment)
        if scheme_of(current) == scheme:
            return
        config_map = self._config_maps.get(current)
        if config_map is None:
            raise PlatformError(f"configmap {current} (read by {DEPLOYMENT}) not found in {self.namespace!r}")
        data = dict(config_map.get("data") or {})
        new_name = self._config_maps.create(data, config_map, hashed=scheme == "hashed")
        self._point_at_config_map(deployment, current, new_name)
        if scheme == "hashed":
            self._config_maps.delete(CONFIG_MAP)

    def _point_at_config_map(self, deployment: JSON, old: str, new: str) -> None:
        patch = env_from_patch(deployment, old, new)
        self._patch_deployment(f"point {DEPLOYMENT} at configmap {new}", patch, mapping.PATCH_MANAGER)

    def set_api_service_selector(self, selector: Mapping[str, str]) -> None:
        wanted = {str(k): str(v) for k, v in selector.items()}
        if self.api_service_selector() == wanted:
            return  # kubectl patch would answer "patched (no change)": nothing to send
        # a JSON patch replacing spec.selector whole: a strategic merge would keep the old keys
        body = [{"op": "replace", "path": "/spec/selector", "value": wanted}]
        self._call(
            f"set the selector of service {SERVICE}",
            self._core.patch_namespaced_service,
            SERVICE,
            self.namespace,
            body,
            field_manager=mapping.PATCH_MANAGER,
        )

    def kill_database(self) -> None:
        self._postgres.kill()

    def crash_database(self) -> None:
        self._postgres.crash(
            lambda pod, container, command: run_in_pod(self._connection, pod, container, command)
        )

    def restart_database(self) -> None:
        self._postgres.restart()

    def wait_database_ready(self, timeout: float = 300.0) -> None:
        self._postgres.wait_ready(timeout)

    def close(self) -> None:
        self._connection.close()
