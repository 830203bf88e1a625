"""Rollouts of the API on Docker: revisions kept in ``.state/``, one container replaced per change.

Semantics (docs/platforms.md): every change (image, memory, configuration) adds a revision, as a
Deployment's template change adds a ReplicaSet. The image is pulled *before* the running container
is touched: when the pull fails the rollout is stalled, the old container keeps serving, and the
failure is reported like a pod in ``ErrImagePull``/``ImagePullBackOff``. When the pull succeeds the
old container is stopped and the new one created (host networking allows one listener on :8082),
so a new revision that cannot start - a bad configuration - takes the API down; Kubernetes'
RollingUpdate would keep the old pod serving instead.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING

from offgridflow_runbook.platforms.base import PlatformError
from offgridflow_runbook.platforms.docker import revisions, specs
from offgridflow_runbook.platforms.docker.names import API

if TYPE_CHECKING:
    import docker  # the driver hands its SDK client in: made on the first change

# After this long in ErrImagePull a pod shows ImagePullBackOff (the kubelet's first back-off).
_PULL_BACKOFF_SECONDS = 10.0


def deploy(
    client: docker.DockerClient, state: revisions.RolloutState, revision: revisions.StoredRevision
) -> None:
    """Run ``revision``: pull its image, then replace the API container (or stall when the pull fails)."""
    try:
        specs.pull(client, revision.image)
    except specs.PullError as error:
        message = f'Failed to pull image "{revision.image}": {error}'
        now = time.time()
        state.stalled = {
            "revision": str(revision.number),
            "image": revision.image,
            "reason": "ErrImagePull",
            "message": message,
            "since": str(now),
            # when ErrImagePull turns ImagePullBackOff: written here, read by stalled_reason() and by
            # the event recorder (deploy/docker/event_recorder.py), which cannot import this rule
            "backoff_at": str(now + _PULL_BACKOFF_SECONDS),
        }
        revisions.write_rollout(state)
        revisions.record_event("Failed", message, f"{API}-rev{revision.number}")
        return
    state.stalled = None
    specs.ensure(client, specs.api_spec(revision))
    state.deployed = revision.number
    revisions.write_rollout(state)
    revisions.record_event(
        "ScalingReplicaSet",
        f"revision {revision.number} running ({revision.change_cause})",
        API,
        warning=False,
    )


def change(client: docker.DockerClient, change_cause: str, **changes: object) -> None:
    """Add a revision with ``changes`` and roll it out; nothing happens when nothing changes."""
    with revisions.rollout_lock():
        state = revisions.read_rollout()
        latest = asdict(state.latest)
        if all(latest[key] == value for key, value in changes.items()):
            return
        deploy(client, state, state.add(change_cause, **changes))


def undo(client: docker.DockerClient) -> None:
    """``kubectl rollout undo``: the previous revision's template comes back as a new revision."""
    with revisions.rollout_lock():
        state = revisions.read_rollout()
        if len(state.revisions) < 2:
            raise PlatformError("rollout undo: offgridflow-api has no previous revision to go back to")
        previous = state.revisions[-2]
        state.revisions.remove(previous)
        values = asdict(previous) | {"number": state.latest.number + 1, "change_cause": previous.change_cause}
        revision = revisions.StoredRevision(**values)
        state.revisions.append(revision)
        deploy(client, state, revision)


def restart(client: docker.DockerClient) -> None:
    """``kubectl rollout restart``: a fresh container from the running revision."""
    with revisions.rollout_lock():
        state = revisions.read_rollout()
        try:
            specs.pull(client, state.current.image)  # before the running container goes away
        except specs.PullError as error:
            raise PlatformError(f"rollout restart: cannot pull {state.current.image}: {error}") from None
        specs.remove(client, API)
        specs.ensure(client, specs.api_spec(state.current))
        revisions.record_event("Killing", "restarted by rollout restart", API, warning=False)


def stalled_reason(state: revisions.RolloutState) -> str | None:
    """``ErrImagePull`` at first, ``ImagePullBackOff`` once the kubelet would have backed off."""
    if not state.stalled:
        return None
    return stalled_reason_at(state.stalled, time.time())


def stalled_reason_at(stalled: Mapping[str, str], now: float) -> str:
    """The waiting reason of a stalled rollout at ``now``: ``ImagePullBackOff`` from its
    ``backoff_at`` on (a rollout stalled before that key existed: backed off already)."""
    return "ImagePullBackOff" if now >= float(stalled.get("backoff_at", 0.0)) else "ErrImagePull"
