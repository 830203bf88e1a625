"""Files the local stack keeps in ``.state/``: secrets, the API's configuration and its rollout history.

The rollout history is the Docker stand-in for a Deployment's ReplicaSet revisions. It is a JSON file
guarded by an exclusive ``flock`` so that separate processes (the stack, a chaos run, a test) agree.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from offgridflow_runbook.platforms.docker.names import (
    API_INTERNAL_PORT,
    API_METRICS_PORT,
    API_REPOSITORY,
    CURRENT_API_TAG,
    state_dir,
)

TOKEN_FILE = "local-token"
DB_PASSWORD_FILE = "database-password"
ROLLOUT_FILE = "api-rollout.json"
EVENTS_FILE = "platform-events.jsonl"

DEFAULT_MEMORY_LIMIT = "512Mi"
DEFAULT_MEMORY_REQUEST = "256Mi"

# The local stack's ``offgridflow-config`` (see docs/architecture.md); the memory assault is on here only.
# The HTTP port is the API container's own, behind the Service (the routing proxy) on 127.0.0.1:8080.
DEFAULT_CONFIG: dict[str, str] = {
    "OFFGRIDFLOW_BIND": "127.0.0.1",
    "OFFGRIDFLOW_HTTP_PORT": str(API_INTERNAL_PORT),
    "OFFGRIDFLOW_METRICS_PORT": str(API_METRICS_PORT),
    "OFFGRIDFLOW_DATABASE_HOST": "127.0.0.1",
    "OFFGRIDFLOW_DATABASE_PORT": "5432",
    "OFFGRIDFLOW_DATABASE_NAME": "offgridflow",
    "OFFGRIDFLOW_DATABASE_USER": "offgridflow",
    "OFFGRIDFLOW_DB_POOL_MAX": "10",
    "OFFGRIDFLOW_DB_TIMEOUT_SECONDS": "1.0",
    "OFFGRIDFLOW_LOG_LEVEL": "INFO",
    "OFFGRIDFLOW_CHAOS_ASSAULTS": "memory",
}


def _secret_file(name: str, preset: str | None = None) -> str:
    path = state_dir() / name
    if preset:
        value = preset
    elif path.exists():
        return path.read_text(encoding="utf-8").strip()
    else:
        value = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    path.chmod(0o600)
    return value


def adopt_environment_token() -> None:
    """``up`` only: a token in ``OFFGRIDFLOW_TOKEN`` becomes the stack's token (else one is generated)."""
    _secret_file(TOKEN_FILE, os.environ.get("OFFGRIDFLOW_TOKEN") or None)


def api_token() -> str:
    """The stack's bearer token (the "Secret"); rollouts reuse it whatever the caller's environment holds."""
    return _secret_file(TOKEN_FILE)


def database_password() -> str:
    return _secret_file(DB_PASSWORD_FILE)


def write_env_file() -> Path:
    """``.state/env``: ``source`` it to get ``OFFGRIDFLOW_TOKEN`` without the token being printed."""
    path = state_dir() / "env"
    token_path = state_dir() / TOKEN_FILE
    path.write_text(f'export OFFGRIDFLOW_TOKEN="$(cat {token_path})"\n', encoding="utf-8")
    return path


def secrets_env() -> dict[str, str]:
    """The ``offgridflow-secrets`` of the local stack."""
    return {"OFFGRIDFLOW_DATABASE_PASSWORD": database_password(), "OFFGRIDFLOW_API_TOKENS": api_token()}


@dataclass
class StoredRevision:
    number: int
    image: str
    memory_limit: str
    memory_request: str
    config: dict[str, str]
    change_cause: str = ""


@dataclass
class RolloutState:
    """The revisions (oldest first), the one the container runs, and a stalled rollout if any."""

    revisions: list[StoredRevision] = field(default_factory=list)
    deployed: int = 0
    stalled: dict[str, str] | None = None  # {"revision", "reason", "message"} while a pull fails

    def revision(self, number: int) -> StoredRevision:
        for revision in self.revisions:
            if revision.number == number:
                return revision
        raise KeyError(number)

    @property
    def latest(self) -> StoredRevision:
        return self.revisions[-1]

    @property
    def current(self) -> StoredRevision:
        """The revision the running container was created from."""
        return self.revision(self.deployed)

    def add(self, change_cause: str, **changes: Any) -> StoredRevision:
        base = self.latest
        values = asdict(base) | changes | {"number": base.number + 1, "change_cause": change_cause}
        revision = StoredRevision(**values)
        self.revisions.append(revision)
        return revision


def initial_rollout() -> RolloutState:
    first = StoredRevision(
        number=1,
        image=f"{API_REPOSITORY}:{CURRENT_API_TAG}",
        memory_limit=DEFAULT_MEMORY_LIMIT,
        memory_request=DEFAULT_MEMORY_REQUEST,
        config=dict(DEFAULT_CONFIG),
        change_cause="make up",
    )
    return RolloutState(revisions=[first], deployed=1)


def _rollout_path() -> Path:
    return state_dir() / ROLLOUT_FILE


def read_rollout() -> RolloutState:
    """The stored history, or the first revision when the stack has none yet."""
    try:
        raw = json.loads(_rollout_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return initial_rollout()
    return RolloutState(
        revisions=[StoredRevision(**item) for item in raw["revisions"]],
        deployed=int(raw["deployed"]),
        stalled=raw.get("stalled"),
    )


# As a Deployment's default revisionHistoryLimit (plus the latest); the running revision is always kept.
REVISION_HISTORY_LIMIT = 10


def write_rollout(state: RolloutState) -> None:
    excess = len(state.revisions) - REVISION_HISTORY_LIMIT - 1
    if excess > 0:
        old = [r for r in state.revisions[:-1] if r.number != state.deployed][:excess]
        state.revisions = [r for r in state.revisions if r not in old]
    path = _rollout_path()
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(state), indent=2), encoding="utf-8")
    temporary.replace(path)
    # The "ConfigMap" for people to read: what the latest revision asks for, running or not.
    (state_dir() / "offgridflow-config.env").write_text(
        "".join(f"{key}={value}\n" for key, value in sorted(state.latest.config.items())), encoding="utf-8"
    )


@contextlib.contextmanager
def rollout_lock() -> Iterator[None]:
    """Serialise changes to the API's rollout between processes."""
    with (state_dir() / "api-rollout.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def record_event(reason: str, message: str, involved: str, *, warning: bool = True) -> None:
    """Events Docker does not emit itself (image pull failures, rollouts), read back by the driver."""
    entry = {
        "at": datetime.now(UTC).isoformat(),
        "type": "Warning" if warning else "Normal",
        "reason": reason,
        "message": message,
        "involved": involved,
    }
    with (state_dir() / EVENTS_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def recorded_events() -> list[Mapping[str, str]]:
    try:
        lines = (state_dir() / EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]
