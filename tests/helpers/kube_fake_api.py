"""What the fake API server serves: kinds, discovery documents and the objects its controller makes."""

from __future__ import annotations

import copy
from typing import Any

JSON = dict[str, Any]

KINDS = {
    "pods": "Pod",
    "events": "Event",
    "configmaps": "ConfigMap",
    "endpoints": "Endpoints",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "statefulsets": "StatefulSet",
    "ingresses": "Ingress",
}


def kind_of(prefix: str, plural: str) -> str:
    if prefix.startswith("apis/metrics.k8s.io/"):
        return "PodMetrics" if plural == "pods" else "NodeMetrics"
    return KINDS.get(plural, plural.capitalize())


# What the served group versions hold, for clients that discover before they call (kubectl).
_RESOURCES = {
    "v1": [
        ("pods", "Pod"),
        ("pods/log", "Pod"),
        ("pods/exec", "PodExecOptions"),
        ("events", "Event"),
        ("configmaps", "ConfigMap"),
        ("endpoints", "Endpoints"),
    ],
    "apps/v1": [
        ("deployments", "Deployment"),
        ("replicasets", "ReplicaSet"),
        ("statefulsets", "StatefulSet"),
    ],
    "networking.k8s.io/v1": [("ingresses", "Ingress")],
    "metrics.k8s.io/v1beta1": [("pods", "PodMetrics")],
}
_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _resource_list(group_version: str) -> JSON:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {"name": name, "singularName": "", "namespaced": True, "kind": kind, "verbs": _VERBS}
            for name, kind in _RESOURCES[group_version]
        ],
    }


def _group(group_version: str) -> JSON:
    name, version = group_version.split("/")
    entry = {"groupVersion": group_version, "version": version}
    return {"name": name, "versions": [entry], "preferredVersion": entry}


DISCOVERY: dict[str, JSON] = {
    "/version": {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake"},
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(gv) for gv in _RESOURCES if "/" in gv],
    },
    "/api/v1": _resource_list("v1"),
    **{f"/apis/{gv}": _resource_list(gv) for gv in _RESOURCES if "/" in gv},
}


def without_hash(template: JSON) -> JSON:
    """A pod template without the ``pod-template-hash`` label a ReplicaSet adds."""
    template = copy.deepcopy(template)
    (template.get("metadata", {}).get("labels") or {}).pop("pod-template-hash", None)
    return template


def replica_set_object(deployment: JSON, revision: int, template: JSON, template_hash: str) -> JSON:
    """The ReplicaSet a Deployment controller makes for ``template`` at ``revision``."""
    template = copy.deepcopy(template)
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = template_hash
    return {
        "metadata": {
            "name": f"offgridflow-api-{template_hash}",
            "labels": dict(template["metadata"]["labels"]),
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": "offgridflow-api",
                    "uid": deployment["metadata"]["uid"],
                    "controller": True,
                }
            ],
        },
        "spec": {"replicas": 0, "template": template},
    }
