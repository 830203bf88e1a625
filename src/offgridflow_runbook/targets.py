"""Targets: where the suite looks, read from ``targets.yaml`` (profiles users add without code), and
the chaos guard: nothing changes a target that does not allow chaos."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEFAULT_TARGETS_FILE",
    "RESOLVED_TARGET_ENV",
    "TARGET_FINGERPRINT_ENV",
    "TARGET_OPTIONS",
    "ChaosNotAllowed",
    "Identity",
    "Target",
    "TargetError",
    "TargetOption",
    "load_target",
    "load_targets",
    "read_resolved_target",
    "require_chaos_allowed",
    "target_document",
    "target_fingerprint",
    "target_from_options",
    "write_resolved_target",
]

DEFAULT_TARGETS_FILE = Path(os.environ.get("OFFGRIDFLOW_TARGETS", "targets.yaml"))
# "none": HTTP only (no kube or Docker access); the platform checks are skipped with that reason
_PLATFORMS = ("docker", "kubernetes", "none")


class TargetError(Exception):
    """The targets file or a target profile is wrong; the message says what to change."""


@dataclass(frozen=True)
class Identity:
    """What a target that may be changed must be, checked against what answers before any change.

    Kubernetes: ``kind_cluster`` (the kind cluster's name: the kubeconfig context's cluster is
    ``kind-<name>``), ``api_server`` (the API server URL the kubeconfig must point at, or ``loopback``:
    any address on 127.0.0.0/8 or ::1) and ``nodes`` (the node names the cluster must have).
    Docker: ``docker_host`` (the engine endpoint, e.g. ``unix:///var/run/docker.sock``) and
    ``stack_label`` (the value of the stack's ``com.offgridflow.stack`` label on its containers)."""

    kind_cluster: str | None = None
    api_server: str | None = None
    nodes: tuple[str, ...] = ()
    docker_host: str | None = None
    stack_label: str | None = None


@dataclass(frozen=True)
class Target:
    """One environment the suite can check, and what it may do there."""

    name: str
    platform: str
    base_url: str
    metrics_url: str | None = None
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    # the game day's webhook receiver (GET /deliveries): where a page is seen to arrive
    alert_receiver_url: str | None = None
    kube_context: str | None = None
    kubeconfig: str | None = None
    namespace: str = "offgridflow"
    token_env: str = "OFFGRIDFLOW_TOKEN"
    allow_chaos: bool = False
    allow_writes: bool = False
    description: str = ""
    # what the target must be before anything changes it (see Identity); None: not declared
    identity: Identity | None = None

    @property
    def token(self) -> str | None:
        """The bearer token from the environment; never stored, printed or reported."""
        return os.environ.get(self.token_env) or None

    def with_overrides(self, **overrides: Any) -> Target:
        """A copy with the non-None ``overrides`` applied (the pytest/CLI options)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _from_mapping(name: str, raw: Mapping[str, Any], source: Path) -> Target:
    known = {f.name for f in fields(Target)} - {"name"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise TargetError(f"{source}: target {name!r} has unknown keys {unknown}; known: {sorted(known)}")
    if raw.get("platform") not in _PLATFORMS:
        raise TargetError(
            f"{source}: target {name!r} needs 'platform' set to one of {list(_PLATFORMS)}, "
            f"not {raw.get('platform')!r}"
        )
    if not raw.get("base_url"):
        raise TargetError(f"{source}: target {name!r} needs a 'base_url'")
    values = dict(raw)
    identity = values.get("identity")
    if isinstance(identity, Mapping):
        # made strict by the schema; here only shaped
        values["identity"] = Identity(
            kind_cluster=identity.get("kind_cluster"),
            api_server=identity.get("api_server"),
            nodes=tuple(identity.get("nodes") or ()),
            docker_host=identity.get("docker_host"),
            stack_label=identity.get("stack_label"),
        )
    kubeconfig = values.get("kubeconfig")
    if isinstance(kubeconfig, str) and not Path(kubeconfig).expanduser().is_absolute():
        # Relative to the targets file, so the profile means the same from any working directory.
        values["kubeconfig"] = str(source.parent / kubeconfig)
    return Target(name=name, **values)


def load_targets(path: Path | str = DEFAULT_TARGETS_FILE) -> dict[str, Target]:
    """Every profile in the targets file, by name."""
    source = Path(path)
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TargetError(
            f"targets file {source} not found (set --targets-file or OFFGRIDFLOW_TARGETS)"
        ) from None
    except yaml.YAMLError as error:
        raise TargetError(f"targets file {source} is not valid YAML: {error}") from None
    profiles = document.get("targets") if isinstance(document, dict) else None
    if not isinstance(profiles, dict) or not profiles:
        raise TargetError(f"targets file {source} needs a top-level 'targets:' mapping of profiles")
    return {name: _from_mapping(name, raw or {}, source) for name, raw in profiles.items()}


def load_target(name: str, path: Path | str = DEFAULT_TARGETS_FILE) -> Target:
    """One profile by name; a clear error lists the known names."""
    targets = load_targets(path)
    try:
        return targets[name]
    except KeyError:
        raise TargetError(f"unknown target {name!r}; known targets in {path}: {', '.join(targets)}") from None


@dataclass(frozen=True)
class TargetOption:
    """One option that chooses a target or overrides one of its keys: the pytest plugin and the
    ``offgridflow-runbook`` subcommands register the same ones, so both read a target alike."""

    flag: str
    help: str
    default: str | None = None

    @property
    def dest(self) -> str:
        """The option's attribute name (``--base-url`` -> ``base_url``, a ``Target`` field for overrides)."""
        return self.flag.removeprefix("--").replace("-", "_")


_CHOICE_OPTIONS = (
    TargetOption("--target", "target profile from the targets file (default: local)", default="local"),
    TargetOption(
        "--targets-file", f"the targets file (default: $OFFGRIDFLOW_TARGETS or {DEFAULT_TARGETS_FILE})"
    ),
)
_OVERRIDE_OPTIONS = (
    TargetOption("--base-url", "override the target's API base URL"),
    TargetOption("--token-env", "override the name of the environment variable holding the token"),
    TargetOption("--kube-context", "override the target's kube context"),
    TargetOption(
        "--kubeconfig",
        "override the target's kubeconfig file (default: the target's 'kubeconfig', "
        "else $KUBECONFIG, else ~/.kube/config)",
    ),
    TargetOption("--namespace", "override the target's Kubernetes namespace"),
    TargetOption("--prometheus-url", "override the target's Prometheus URL"),
)
TARGET_OPTIONS: tuple[TargetOption, ...] = (*_CHOICE_OPTIONS, *_OVERRIDE_OPTIONS)


def target_from_options(option: Callable[[str], Any]) -> Target:
    """The target the ``TARGET_OPTIONS`` name, with their overrides applied; ``option(dest)`` reads one
    (``config.getoption`` under pytest, the parsed arguments on the command line). TargetError for a
    user mistake."""
    target = load_target(option("target"), option("targets_file") or DEFAULT_TARGETS_FILE)
    return target.with_overrides(**{o.dest: option(o.dest) for o in _OVERRIDE_OPTIONS})


class ChaosNotAllowed(Exception):
    """The target forbids chaos; the message is one line for the user."""


def require_chaos_allowed(target: Target) -> None:
    """Raise :class:`ChaosNotAllowed` unless ``target.allow_chaos`` is true; call before any change."""
    if not target.allow_chaos:
        raise ChaosNotAllowed(
            f"target {target.name!r} does not allow chaos (allow_chaos is false in the targets file); "
            "refusing to change anything"
        )


# -- one target per game day: the resolved target, written once and checked by fingerprint -----------
# The game day resolves its target once (file and overrides) and hands the result to the `chaos run`
# it starts through these two variables; every activity there reads that file and refuses when its
# fingerprint differs, so the process that scores and the one that breaks look at the same system.
RESOLVED_TARGET_ENV = "OFFGRIDFLOW_RESOLVED_TARGET"
TARGET_FINGERPRINT_ENV = "OFFGRIDFLOW_TARGET_FINGERPRINT"


def target_document(target: Target) -> dict[str, Any]:
    """Every field of ``target`` (overrides applied) as plain JSON values."""
    document = asdict(target)
    if target.identity is not None:
        document["identity"]["nodes"] = list(target.identity.nodes)
    return document


def target_fingerprint(target: Target) -> str:
    """sha256 of the target's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(target_document(target), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def write_resolved_target(target: Target, path: Path) -> str:
    """Write ``target`` to ``path`` (JSON) and return its fingerprint."""
    path.write_text(json.dumps(target_document(target), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target_fingerprint(target)


def read_resolved_target(path: Path | str, fingerprint: str) -> Target:
    """The target written by :func:`write_resolved_target`; TargetError (one line) when the file is
    missing or malformed, or its fingerprint is not ``fingerprint``."""
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
        identity = document.get("identity")
        if identity is not None:
            identity = Identity(**{**identity, "nodes": tuple(identity.get("nodes") or ())})
        target = Target(**{**document, "identity": identity})
    except (OSError, ValueError, TypeError, AttributeError) as error:
        raise TargetError(
            f"resolved target {source}: unreadable ({error.__class__.__name__}: {error})"
        ) from None
    seen = target_fingerprint(target)
    if seen != fingerprint:
        raise TargetError(
            f"resolved target {source}: refusing: its fingerprint {seen[:12]} is not the game day's "
            f"{fingerprint[:12] or '(none given)'}: the target changed after the game day resolved it"
        )
    return target
