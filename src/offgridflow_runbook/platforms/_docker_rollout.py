"""Rollouts of the API on Docker: revisions kept in ``.state/``, one container replaced per change.

Semantics (docs/platforms.md): every change (image, memory, configuration) adds a revision, as a
Deployment's template change adds a ReplicaSet. The image is pulled *before* the running container
is touched: when the pull fails the rollout is stalled, the old container keeps serving, and the
failure is reported like a pod in ``ErrImagePull``/``ImagePullBackOff``. When the pull succeeds the
old container is stopped and the new one created (host networking allows one listener on :8080),
so a new revision that cannot start - a bad configuration - takes the API down; Kubernetes'
RollingUpdate would keep the old pod serving instead.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import docker

from offgridflow_runbook.platforms.base import PlatformError
from offgridflow_runbook.stack import _containers, _state
from offgridflow_runbook.stack._layout import API

# After this long in ErrImagePull a pod shows ImagePullBackOff (the kubelet's first back-off).
_PULL_BACKOFF_SECONDS = 10.0


def deploy(client: docker.DockerClient, state: _state.RolloutState, revision: _state.StoredRevision) -> None:
    """Run ``revision``: pull its image, then replace the API container (or stall when the pull fails)."""
    try:
        _containers.pull(client, revision.image)
    except _containers.PullError as error:
        message = f'Failed to pull image "{revision.image}": {error}'
        state.stalled = {
            "revision": str(revision.number),
            "image": revision.image,
            "reason": "ErrImagePull",
            "message": message,
            "since": str(time.time()),
        }
        _state.write_rollout(state)
        _state.record_event("Failed", message, f"{API}-rev{revision.number}")
        return
    state.stalled = None
    _containers.ensure(client, _containers.api_spec(revision))
    state.deployed = revision.number
    _state.write_rollout(state)
    _state.record_event(
        "ScalingReplicaSet",
        f"revision {revision.number} running ({revision.change_cause})",
        API,
        warning=False,
    )


def change(client: docker.DockerClient, change_cause: str, **changes: object) -> None:
    """Add a revision with ``changes`` and roll it out; nothing happens when nothing changes."""
    with _state.rollout_lock():
        state = _state.read_rollout()
        latest = asdict(state.latest)
        if all(latest[key] == value for key, value in changes.items()):
            return
        deploy(client, state, state.add(change_cause, **changes))


def undo(client: docker.DockerClient) -> None:
    """``kubectl rollout undo``: the previous revision's template comes back as a new revision."""
    with _state.rollout_lock():
        state = _state.read_rollout()
        if len(state.revisions) < 2:
            raise PlatformError("rollout undo: offgridflow-api has no previous revision to go back to")
        previous = state.revisions[-2]
        state.revisions.remove(previous)
        values = asdict(previous) | {"number": state.latest.number + 1, "change_cause": previous.change_cause}
        revision = _state.StoredRevision(**values)
        state.revisions.append(revision)
        deploy(client, state, revision)


def restart(client: docker.DockerClient) -> None:
    """``kubectl rollout restart``: a fresh container from the running revision."""
    with _state.rollout_lock():
        state = _state.read_rollout()
        try:
            _containers.pull(client, state.current.image)  # before the running container goes away
        except _containers.PullError as error:
            raise PlatformError(f"rollout restart: cannot pull {state.current.image}: {error}") from None
        _containers.remove(client, API)
        _containers.ensure(client, _containers.api_spec(state.current))
        _state.record_event("Killing", "restarted by rollout restart", API, warning=False)


def stalled_reason(state: _state.RolloutState) -> str | None:
    """``ErrImagePull`` at first, ``ImagePullBackOff`` once the kubelet would have backed off."""
    if not state.stalled:
        return None
    waited = time.time() - float(state.stalled.get("since", time.time()))
    return "ImagePullBackOff" if waited >= _PULL_BACKOFF_SECONDS else "ErrImagePull"
