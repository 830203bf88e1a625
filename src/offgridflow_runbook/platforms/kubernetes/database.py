"""The runbook's database operations on StatefulSet ``postgres``: Fix 1 and the DB-kill fault."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client import AppsV1Api, CoreV1Api

from offgridflow_runbook.platforms.base import CRASH_POSTGRES, CommandResult, PlatformError, Workload
from offgridflow_runbook.platforms.kubernetes import mapping
from offgridflow_runbook.platforms.kubernetes.client import NotFound

JSON = dict[str, Any]
STATEFULSET = "postgres"
CONTAINER = "postgres"
# the Service the API reaches its database through (the runbook's `pg_isready -h postgres-service`)
SERVICE = "postgres-service"
POLL_SECONDS = 1.0
CRASH_SEEN_SECONDS = 30.0
KILL_GRACE_SECONDS = 1


class PostgresStatefulSet:
    """``kubectl delete pod -l app=postgres``, ``rollout restart statefulset/postgres``, ``kubectl wait``."""

    def __init__(
        self,
        call: Callable[..., Any],
        core: CoreV1Api,
        apps: AppsV1Api,
        namespace: str,
        pods: Callable[[], list[JSON]],
    ) -> None:
        self._call = call
        self._core = core
        self._apps = apps
        self._namespace = namespace
        self._pods = pods

    def _statefulset(self) -> JSON:
        read = self._apps.read_namespaced_stateful_set
        result: JSON = self._call(f"get statefulset {STATEFULSET}", read, STATEFULSET, self._namespace)
        return result

    def _workloads(self) -> list[Workload]:
        return [mapping.pod_to_workload(pod, mapping.DATABASE_APP) for pod in self._pods()]

    def kill(self) -> None:
        """``kubectl delete pod -l app=postgres --grace-period=1``: SIGTERM, SIGKILL a second later.

        Not ``--grace-period=0 --force``: that removes the pod from the API at once while its container
        still runs, the StatefulSet starts a second postgres-0 on the same volume, and on kind that lost
        5 of 46 acknowledged writes (game day 2026-12-01). Kubernetes warns against force-deleting
        StatefulSet pods; a crash does not do it either."""
        pods = self._pods()
        if not pods:
            raise PlatformError(f"no postgres pod in namespace {self._namespace!r} to kill")
        for pod in pods:
            name = pod["metadata"]["name"]
            try:
                self._call(
                    f"delete pod {name}",
                    self._core.delete_namespaced_pod,
                    name,
                    self._namespace,
                    body={"gracePeriodSeconds": KILL_GRACE_SECONDS, "propagationPolicy": "Background"},
                )
            except NotFound:
                continue  # already gone: the goal is reached

    def crash(self, run: Callable[[str, str, tuple[str, ...]], CommandResult]) -> None:
        """``kubectl exec postgres-0 -c postgres -- pg_ctl stop -m immediate``: the container exits and
        kubelet restarts it, with its back-off growing at each crash (10 s, 20 s, 40 s, ...)."""
        pods = [pod for pod in self._pods() if pod.get("status", {}).get("phase") == "Running"]
        if not pods:
            raise PlatformError(f"no running postgres pod in namespace {self._namespace!r} to crash")
        name = pods[0]["metadata"]["name"]
        before = {w.name: w.restart_count for w in self._workloads()}.get(name, 0)
        # the exec's stream ends with the container it ran in: the restart count says more than its answer
        with contextlib.suppress(PlatformError):
            run(name, CONTAINER, CRASH_POSTGRES)
        deadline = time.monotonic() + CRASH_SEEN_SECONDS
        while time.monotonic() < deadline:
            now = {w.name: w for w in self._workloads()}.get(name)
            if now is None or now.restart_count > before or not now.ready:
                return
            time.sleep(POLL_SECONDS)
        raise PlatformError(
            f"postgres in pod {name} did not go down within {CRASH_SEEN_SECONDS:.0f}s of pg_ctl stop"
        )

    def restart(self) -> None:
        """``kubectl rollout restart statefulset/postgres``, scaling it back to 1 if it was scaled to 0."""
        body = mapping.restart_patch()
        if self._statefulset().get("spec", {}).get("replicas", 1) == 0:
            body["spec"]["replicas"] = 1  # "start it if it is down"
        self._call(
            f"restart statefulset {STATEFULSET}",
            self._apps.patch_namespaced_stateful_set,
            STATEFULSET,
            self._namespace,
            body,
            field_manager=mapping.ROLLOUT_MANAGER,
        )

    def _ready(self) -> tuple[bool, str]:
        statefulset = self._statefulset()
        wanted = max(int(statefulset.get("spec", {}).get("replicas", 1)), 1)
        status = statefulset.get("status", {})
        generation = int(statefulset.get("metadata", {}).get("generation", 0))
        if generation > int(status.get("observedGeneration", 0)):
            return False, "the statefulset's spec update is not observed yet"
        update, current = status.get("updateRevision"), status.get("currentRevision")
        if update and current and update != current:
            return False, f"the statefulset is still rolling out ({current} → {update})"
        workloads = self._workloads()
        ready = [w for w in workloads if w.ready]
        if len(ready) < wanted or len(ready) != len(workloads):
            return False, f"{len(ready)} of {wanted} postgres pods ready"
        # A ready pod is not yet a database the API can reach: the endpoints controller adds it to
        # the Service a moment later (seconds on a busy node), and until then the Service still
        # routes to the pod it replaced, or to nothing. Fix 1 is done when the Service routes to it.
        routed = self._routed()
        unrouted = [w.name for w in ready if w.uid not in routed]
        if unrouted:
            return False, f"service {SERVICE} does not route to {', '.join(unrouted)} yet"
        return True, "postgres ready"

    def _routed(self) -> set[str]:
        """The UIDs of the pods the database Service's ready endpoints point to (none when it has no
        Endpoints object)."""
        try:
            endpoints: JSON = self._call(
                f"get endpoints {SERVICE}", self._core.read_namespaced_endpoints, SERVICE, self._namespace
            )
        except NotFound:
            return set()
        return {
            str((address.get("targetRef") or {}).get("uid"))
            for subset in endpoints.get("subsets") or []
            for address in subset.get("addresses") or []
        }

    def wait_ready(self, timeout: float) -> None:
        """``kubectl wait --for=condition=ready pod -l app=postgres --timeout``, after any rollout."""
        deadline = time.monotonic() + timeout
        ready, why = self._ready()
        while not ready:
            if time.monotonic() >= deadline:
                raise PlatformError(f"postgres not ready after {timeout:.0f}s: {why}")
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))
            ready, why = self._ready()
