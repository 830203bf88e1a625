"""The three patch types of the Kubernetes API, as far as the runbook's commands need them."""

from __future__ import annotations

import copy
from typing import Any

JSON = dict[str, Any]

# Lists whose items a strategic merge patch merges by key (the Kubernetes patchMergeKey).
MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name"}


def strategic_merge(target: JSON, patch: JSON) -> None:
    """Apply a strategic merge patch in place (the subset Deployments and ConfigMaps need)."""
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # directives such as $setElementOrder only order the merged list
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            strategic_merge(target[key], value)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(target.get(key), list):
            merge_key = MERGE_KEYS[key]
            merged = target[key]
            for item in value:
                existing = next((m for m in merged if m.get(merge_key) == item.get(merge_key)), None)
                if existing is None:
                    merged.append(copy.deepcopy(item))
                else:
                    strategic_merge(existing, item)
        else:
            target[key] = copy.deepcopy(value)


def merge_patch(target: JSON, patch: JSON) -> None:
    """RFC 7386 JSON merge patch, in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def json_patch(target: JSON, operations: list[JSON]) -> None:
    """RFC 6902 add/replace/remove with simple pointers, in place."""
    for operation in operations:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
        node: Any = target
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if operation["op"] in ("add", "replace"):
            node[last] = copy.deepcopy(operation["value"])
        elif operation["op"] == "remove":
            del node[last]
        else:
            raise ValueError(f"unsupported JSON patch op {operation['op']!r}")
