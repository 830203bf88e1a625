"""Reading the kind cluster's API pods after a rollout."""

from __future__ import annotations

import time
from typing import Any


def settled(platform: Any, replicas: int = 2, timeout: float = 120) -> list[Any]:
    """The API pods once a rollout's old pods are gone (they linger, terminating, after it completes)."""
    deadline = time.monotonic() + timeout
    workloads = platform.api_workloads()
    while len(workloads) > replicas and time.monotonic() < deadline:
        time.sleep(1)
        workloads = platform.api_workloads()
    return list(workloads)
