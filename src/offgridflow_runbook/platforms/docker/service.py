"""The local stack's API *Service*: the selector of its routing proxy, kept in ``.state/``.

On Kubernetes ``offgridflow-api-service`` sends traffic to the ready pods its ``spec.selector``
matches. The local stack has the same part: the container ``offgridflow-api-service`` (the routing
proxy, ``deploy/docker/api_service.py``) listens on 127.0.0.1:8080 and forwards each connection to a
ready API container whose labels match the selector stored in ``.state/api-service.json``. The proxy
and the event recorder read that file on every connection and scrape (no longer cached than a
second), so a changed selector takes effect as a patched Service does: at once, with no restart.

A missing file means the selector the stack is created with (``app=offgridflow-api``); this module
writes the file only when the selector is changed, whole and atomically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from offgridflow_runbook.platforms.base import PlatformError
from offgridflow_runbook.platforms.docker.names import API, API_SERVICE_FILE, state_dir

__all__ = ["DEFAULT_SELECTOR", "matches", "read_selector", "write_selector"]

# What the stack's Service selects when nobody changed it: as deploy/kubernetes' Service does.
DEFAULT_SELECTOR: Mapping[str, str] = {"app": API}


def read_selector() -> dict[str, str]:
    """The proxy's selector; the stack's own when the file does not exist. PlatformError when the
    file cannot be read or is not a mapping of strings to strings."""
    path = state_dir() / API_SERVICE_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return dict(DEFAULT_SELECTOR)
    except (OSError, ValueError) as error:
        raise PlatformError(f"cannot read the API Service's selector from {path}: {error}") from None
    selector = raw.get("selector") if isinstance(raw, dict) else None
    if not isinstance(selector, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in selector.items()
    ):
        raise PlatformError(f"{path}: 'selector' is not a mapping of label names to values")
    return dict(selector)


def write_selector(selector: Mapping[str, str]) -> None:
    """Replace the selector whole (a new file, renamed over the old one: readers never see half)."""
    if not selector:
        # an empty selector selects nothing on a Service without one; refuse rather than guess
        raise PlatformError("the API Service's selector must name at least one label")
    path = state_dir() / API_SERVICE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"selector": dict(sorted(selector.items()))}, indent=2), encoding="utf-8")
    temporary.replace(path)


def matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """Whether a container with ``labels`` is selected: every key of the selector, with its value."""
    return all(labels.get(key) == value for key, value in selector.items())
