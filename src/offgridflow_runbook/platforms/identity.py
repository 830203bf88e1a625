"""What answers on a platform (its identity as seen) and whether it is the system a target declares.

A chaos target declares what it must be (:class:`offgridflow_runbook.targets.Identity`); before any
change the chaos guard reads what actually answers (``Platform.identity()``, a :class:`SeenIdentity`)
and :func:`identity_mismatch` says, in one line, why it is not that system. The read has two stages:
``identity(contact=False)`` says only where the client would connect (no request leaves the suite),
so a non-loopback API server is refused before it is ever contacted; ``identity()`` then asks the
system itself (node names, the stack's labels).
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from offgridflow_runbook.targets import Target

__all__ = [
    "KIND_CLUSTER_PREFIX",
    "LOOPBACK",
    "SeenIdentity",
    "identity_mismatch",
    "is_loopback_url",
    "undeclared_identity",
]

# The declared ``api_server`` that accepts any API server on a loopback address (127.0.0.0/8, ::1).
LOOPBACK = "loopback"
# kind names a cluster ``<name>`` ``kind-<name>`` in the kubeconfig it writes.
KIND_CLUSTER_PREFIX = "kind-"


@dataclass(frozen=True)
class SeenIdentity:
    """What a platform's client is connected to; ``None`` (or an empty tuple) where it was not read.

    Kubernetes: ``context`` and ``cluster`` (the kubeconfig context used and the cluster it names),
    ``api_server`` (the server URL of the loaded kubeconfig), ``nodes`` (from the API; ``None`` until
    contacted). Docker: ``docker_host`` (the engine endpoint the client uses) and ``stack_labels``
    (the values of the stack label on the engine's containers; ``None`` until contacted)."""

    platform: str
    context: str | None = None
    cluster: str | None = None
    api_server: str | None = None
    nodes: tuple[str, ...] | None = None
    docker_host: str | None = None
    stack_labels: tuple[str, ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        """For the event log and the scorecard (JSON)."""
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()
        }


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is a loopback IP address. A name (even ``localhost``) is not: what it
    resolves to is up to the machine's resolver, not to the URL."""
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def undeclared_identity(target: Target) -> str | None:
    """Why ``target`` cannot be changed for lack of a declared identity (None: it declares one)."""
    identity = target.identity
    if target.platform == "kubernetes":
        if identity is None or not identity.api_server or not (identity.kind_cluster or identity.nodes):
            return (
                f"target {target.name!r}: refusing: allow_chaos is true but the profile declares no "
                "identity (needs identity.api_server and identity.kind_cluster or identity.nodes)"
            )
        return None
    if target.platform == "docker":
        if identity is None or not identity.docker_host or not identity.stack_label:
            return (
                f"target {target.name!r}: refusing: allow_chaos is true but the profile declares no "
                "identity (needs identity.docker_host and identity.stack_label)"
            )
        return None
    return f"target {target.name!r}: refusing: platform {target.platform!r} has no identity to check"


def _kubernetes_mismatch(target: Target, seen: SeenIdentity) -> str | None:
    expected = target.identity
    assert expected is not None  # undeclared_identity ran first
    if expected.api_server == LOOPBACK:
        if not seen.api_server or not is_loopback_url(seen.api_server):
            return f"expected an API server on a loopback address, found {seen.api_server or 'none'}"
    elif expected.api_server and (seen.api_server or "").rstrip("/") != expected.api_server.rstrip("/"):
        return f"expected API server {expected.api_server}, found {seen.api_server or 'none'}"
    if expected.kind_cluster:
        cluster = KIND_CLUSTER_PREFIX + expected.kind_cluster
        if seen.cluster != cluster:
            return (
                f"expected kind cluster {expected.kind_cluster!r} (kubeconfig cluster {cluster!r}), "
                f"found {seen.cluster!r} (context {seen.context!r})"
            )
    if expected.nodes and seen.nodes is not None:
        missing = sorted(set(expected.nodes) - set(seen.nodes))
        if missing:
            return f"expected nodes {sorted(expected.nodes)}, found {sorted(seen.nodes)}"
    return None


def _docker_mismatch(target: Target, seen: SeenIdentity) -> str | None:
    expected = target.identity
    assert expected is not None  # undeclared_identity ran first
    if seen.docker_host != expected.docker_host:
        return f"expected Docker engine {expected.docker_host}, found {seen.docker_host or 'none'}"
    if seen.stack_labels is not None and expected.stack_label not in seen.stack_labels:
        found = ", ".join(repr(label) for label in seen.stack_labels) or "no stack container"
        return f"expected containers of stack {expected.stack_label!r}, found {found}"
    return None


def identity_mismatch(target: Target, seen: SeenIdentity) -> str | None:
    """One line (expected, found) when what answers is not the system ``target`` declares; None when
    it is (as far as ``seen`` was read: fields not read yet are not compared)."""
    if reason := undeclared_identity(target):
        return reason
    if seen.platform != target.platform:
        problem: str | None = f"expected a {target.platform} platform, found {seen.platform}"
    elif target.platform == "kubernetes":
        problem = _kubernetes_mismatch(target, seen)
    else:
        problem = _docker_mismatch(target, seen)
    return f"target {target.name!r}: refusing: {problem}" if problem else None
