"""The API's configuration on Kubernetes: ConfigMap ``offgridflow-config``, hashed or edited in place.

With kustomize's hashed names (``offgridflow-config-<hash>``) every change is a new ConfigMap and a
new Deployment revision, so ``rollout undo`` restores the old configuration. With one ConfigMap
edited in place, every revision reads the same, edited data, so ``rollout undo`` does not.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kubernetes.client import CoreV1Api

from offgridflow_runbook.platforms.kubernetes import mapping
from offgridflow_runbook.platforms.kubernetes.client import NotFound

JSON = dict[str, Any]
CONFIG_MAP = "offgridflow-config"
Scheme = Literal["hashed", "in-place"]


@dataclass(frozen=True)
class ConfigUpdate:
    """How :meth:`KubernetesPlatform.update_config` changed the configuration, for the game day.

    ``hashed``: a new ConfigMap ``offgridflow-config-<hash>`` was created and the Deployment now
    points at it, so ``rollout undo`` brings the old configuration back. ``in-place``: the data of
    ``offgridflow-config`` was edited and the API restarted, so ``rollout undo`` does NOT restore
    the old values (the previous revision reads the same, edited ConfigMap).
    """

    scheme: Scheme
    config_map: str
    previous_config_map: str

    @property
    def undo_restores_config(self) -> bool:
        return self.scheme == "hashed"

    @property
    def finding(self) -> str | None:
        """What the game day reports about the runbook's Fix 3 for this scheme (None: nothing)."""
        return None if self.undo_restores_config else IN_PLACE_FINDING


IN_PLACE_FINDING = (
    "Fix 3 (`kubectl rollout undo`) restores the previous pod template only: with ConfigMap "
    "offgridflow-config edited in place, the previous revision reads the same, edited data and keeps "
    "crashing. Suggested runbook change: generate the ConfigMap with a content hash (kustomize "
    "configMapGenerator) so every config change is a new revision, or restore the previous ConfigMap "
    "(`kubectl apply -f` it from version control) before `kubectl rollout restart`."
)


def hashed_config_map_name(data: Mapping[str, str]) -> str:
    """``offgridflow-config-<hash>``: the name changes whenever the data does (kustomize's scheme)."""
    digest = hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()
    return f"{CONFIG_MAP}-{digest[:10]}"


def config_map_name(deployment: JSON) -> str:
    """The ``offgridflow-config`` ConfigMap (hashed or not) the Deployment's container ``api`` reads."""
    names = mapping.config_map_names(deployment.get("spec", {}).get("template", {}))
    return next((n for n in names if n == CONFIG_MAP or n.startswith(f"{CONFIG_MAP}-")), CONFIG_MAP)


def scheme_of(name: str) -> Scheme:
    return "in-place" if name == CONFIG_MAP else "hashed"


def env_from_patch(deployment: JSON, old: str, new: str) -> JSON:
    """A strategic merge patch pointing container ``api``'s envFrom at ConfigMap ``new``."""
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
    container = {"name": mapping.API_CONTAINER, "envFrom": env_from}
    return {"spec": {"template": {"spec": {"containers": [container]}}}}


class ConfigMaps:
    """ConfigMaps in one namespace, read and written as kubectl would."""

    def __init__(self, call: Callable[..., Any], core: CoreV1Api, namespace: str) -> None:
        self._call = call
        self._core = core
        self._namespace = namespace

    def get(self, name: str) -> JSON | None:
        try:
            read = self._core.read_namespaced_config_map
            body: JSON = self._call(f"get configmap {name}", read, name, self._namespace)
        except NotFound:
            return None
        return body

    def data(self, name: str) -> dict[str, str] | None:
        body = self.get(name)
        return None if body is None else dict(body.get("data") or {})

    def edit(self, name: str, data: Mapping[str, str]) -> None:
        """``kubectl patch configmap NAME -p '{"data": ...}'``."""
        self._call(
            f"edit configmap {name}",
            self._core.patch_namespaced_config_map,
            name,
            self._namespace,
            {"data": dict(data)},
            field_manager=mapping.PATCH_MANAGER,
        )

    def create(self, data: Mapping[str, str], like: JSON, *, hashed: bool) -> str:
        """``kubectl create configmap`` with ``like``'s labels: a hashed name (kept if it exists) or
        plain ``offgridflow-config`` (overwritten if it exists). Returns the name."""
        name = hashed_config_map_name(data) if hashed else CONFIG_MAP
        existing = self.get(name)
        if existing is not None:
            if not hashed:
                self.edit(name, data)
            return name  # a hashed name already holding this data is this data
        labels = dict(like.get("metadata", {}).get("labels") or {})
        self._call(
            f"create configmap {name}",
            self._core.create_namespaced_config_map,
            self._namespace,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "labels": labels},
                "data": dict(data),
            },
            field_manager=mapping.CREATE_MANAGER,
        )
        return name

    def delete(self, name: str) -> None:
        """``kubectl delete configmap NAME`` (gone already is fine)."""
        try:
            self._call(
                f"delete configmap {name}", self._core.delete_namespaced_config_map, name, self._namespace
            )
        except NotFound:
            return
