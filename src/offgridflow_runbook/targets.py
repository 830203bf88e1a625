"""Targets: where the suite looks, read from ``targets.yaml`` (profiles users add without code), and
the chaos guard: nothing changes a target that does not allow chaos."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Callable, Hashable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from offgridflow_runbook.files import read_user_text
from offgridflow_runbook.reporting import shown

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
    "profile_target",
    "read_resolved_target",
    "require_chaos_allowed",
    "target_document",
    "target_fingerprint",
    "target_from_options",
    "url_problem",
    "write_resolved_target",
    "yaml_problem",
]

# An empty OFFGRIDFLOW_TARGETS counts as unset, as the other OFFGRIDFLOW_* variables do (``export X=`` is
# how a shell clears one); an empty --targets-file, typed on purpose, is refused instead.
DEFAULT_TARGETS_FILE = Path(os.environ.get("OFFGRIDFLOW_TARGETS") or "targets.yaml")
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
    def has_platform(self) -> bool:
        """Whether the target names a platform to read (``none``: HTTP only, its platform reads absent)."""
        return self.platform != "none"

    @property
    def token(self) -> str | None:
        """The bearer token from the environment; never stored, printed or reported."""
        return os.environ.get(self.token_env) or None

    def as_profile(self) -> dict[str, Any]:
        """The profile as a targets file writes it (no name, no unset keys, the identity as a mapping):
        what :func:`profile_target` reads back as this very target."""
        profile = {key: value for key, value in vars(self).items() if key != "name" and value is not None}
        if self.identity is not None:
            identity = {key: value for key, value in vars(self.identity).items() if value is not None}
            profile["identity"] = {**identity, "nodes": list(self.identity.nodes)}
        return profile

    def with_overrides(self, **overrides: Any) -> Target:
        """A copy with the non-None ``overrides`` applied (the pytest/CLI options), each checked by the
        targets file's own rules: :class:`TargetError` for an unknown key or a wrong value."""
        return _overridden(self, overrides, lambda key: f"override {key}")


# -- the schema ------------------------------------------------------------------------------------------
# Every message below is one line: values are named by reporting.shown (control characters and line
# breaks escaped, cut short), so a hostile or mistyped value cannot break or flood the terminal.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# a target's name becomes part of file names (reports, records, .state/): plain characters only
_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an http(s) URL with a host, or None."""
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return "has spaces or control characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check (ValueError when it is not a number 0-65535)
    except ValueError as error:
        return f"cannot be parsed ({error})"
    if parts.scheme not in ("http", "https"):
        return "needs the scheme http:// or https://"
    if not parts.hostname:
        return "needs a host"
    if parts.username is not None or parts.password is not None:
        # credentials in a URL end up in logs and reports; the token belongs in token_env
        return "must not carry credentials (user:password@); put the token's variable in token_env"
    return None


def _text(value: object) -> str | None:
    return None if isinstance(value, str) and value.strip() else "a non-empty string"


def _boolean(value: object) -> str | None:
    # a quoted "false", "no", "off", 0 or 1 is a slip, never permission: only a YAML boolean counts
    return None if isinstance(value, bool) else "true or false (a YAML boolean)"


def _url(value: object) -> str | None:
    if not isinstance(value, str):
        return "an http:// or https:// URL"
    problem = url_problem(value)
    return None if problem is None else f"an http:// or https:// URL with a host ({value!r} {problem})"


def _platform(value: object) -> str | None:
    return None if isinstance(value, str) and value in _PLATFORMS else f"one of {list(_PLATFORMS)}"


def _namespace(value: object) -> str | None:
    if isinstance(value, str) and _DNS_LABEL.fullmatch(value):
        return None
    return "a namespace: a DNS-1123 label (1-63 of a-z, 0-9 and '-', alphanumeric at both ends)"


def _env_name(value: object) -> str | None:
    if isinstance(value, str) and _ENV_NAME.fullmatch(value):
        return None
    return "the name of an environment variable (letters, digits and '_', not starting with a digit)"


def _api_server(value: object) -> str | None:
    if value == "loopback" or (isinstance(value, str) and url_problem(value) is None):
        return None
    return "'loopback' or the API server's http:// or https:// URL"


def _docker_host(value: object) -> str | None:
    if isinstance(value, str):
        parts = urlsplit(value)
        if parts.scheme == "unix" and not parts.netloc and parts.path.startswith("/"):
            return None
        with contextlib.suppress(ValueError):
            if parts.scheme == "tcp" and parts.hostname and parts.port and parts.path in ("", "/"):
                return None
    return "a Docker engine endpoint: unix:///path/to/docker.sock or tcp://host:port"


def _names(value: object) -> str | None:
    if isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value):
        return None
    return "a list of names (strings)"


Check = Callable[[object], "str | None"]
# key -> what its value must be (None when it is), for a profile and for its identity
_TARGET_SCHEMA: dict[str, Check] = {
    "description": lambda value: None if isinstance(value, str) else "a string",
    "platform": _platform,
    "base_url": _url,
    "metrics_url": _url,
    "prometheus_url": _url,
    "alertmanager_url": _url,
    "alert_receiver_url": _url,
    "kube_context": _text,
    "kubeconfig": _text,
    "namespace": _namespace,
    "token_env": _env_name,
    "allow_chaos": _boolean,
    "allow_writes": _boolean,
}
_REQUIRED = ("platform", "base_url")
_IDENTITY_SCHEMA: dict[str, Check] = {
    "kind_cluster": _text,
    "api_server": _api_server,
    "nodes": _names,
    "docker_host": _docker_host,
    "stack_label": _text,
}


def _checked(
    where: str, schema: Mapping[str, Check], raw: object, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``raw`` as a mapping whose every key is known and every value what the schema says."""
    if not isinstance(raw, Mapping):
        raise TargetError(f"{where} must be a mapping of keys, not {shown(raw)}")
    unknown = sorted(str(key) for key in raw if key not in schema)
    if unknown:
        raise TargetError(f"{where}: unknown keys {unknown}; known: {sorted(schema)}")
    for key in required:
        if key not in raw:
            raise TargetError(f"{where}: needs {key} ({schema[key](None)})")
    for key, value in raw.items():
        expected = schema[key](value)
        if expected is not None:
            raise TargetError(f"{where}: {key} must be {expected}, not {shown(value)}")
    return dict(raw)


if TYPE_CHECKING:
    _SafeLoader = yaml.SafeLoader
else:  # libyaml's parser when it is there (several times faster), with the same safe constructor
    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (YAML keeps the last one
    silently: ``allow_chaos`` written twice would decide by its position)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults` may be overridden by design
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is written twice in one mapping", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error in one line: where (line, column) and what."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return where + " ".join(str(error.problem or error.context or "not valid YAML").split())
    return " ".join(str(error).split())


def _read(source: Path) -> object:
    """The parsed targets file; TargetError (one line) when it cannot be read or parsed."""
    try:
        text = read_user_text(source)
    except FileNotFoundError:
        raise TargetError(
            f"targets file {source} not found (set --targets-file or OFFGRIDFLOW_TARGETS)"
        ) from None
    except IsADirectoryError:
        raise TargetError(f"targets file {source} is a directory, not a YAML file") from None
    except UnicodeDecodeError as error:
        raise TargetError(
            f"targets file {source} is not UTF-8 text (byte {error.start}: {error.reason})"
        ) from None
    except OSError as error:
        raise TargetError(f"targets file {source} cannot be read: {error.strerror or error}") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise TargetError(f"targets file {source} is not valid YAML: {yaml_problem(error)}") from None
    except RecursionError:
        raise TargetError(f"targets file {source} is not valid YAML: nested too deeply") from None


def profile_target(name: object, raw: object, source: Path | None = None) -> Target:
    """The :class:`Target` a profile describes (``raw``: its keys as in the targets file), checked by
    the schema: :class:`TargetError`, one line naming ``source`` (when given), the target, the key and
    what it must be. A relative ``kubeconfig`` is taken relative to ``source``'s folder."""
    file = f"{source}: " if source is not None else ""
    if not isinstance(name, str) or not _TARGET_NAME.fullmatch(name):
        raise TargetError(
            f"{file}target name {shown(name)} must be 1-63 letters, digits, '_', '.' or '-' "
            "(it becomes part of file names)"
        )
    where = f"{file}target {name!r}"
    values = _checked(where, _TARGET_SCHEMA | {"identity": lambda _: None}, raw, _REQUIRED)
    if "identity" in values:
        identity = _checked(f"{where}: identity", _IDENTITY_SCHEMA, values["identity"])
        values["identity"] = Identity(**{**identity, "nodes": tuple(identity.get("nodes", ()))})
    kubeconfig = values.get("kubeconfig")
    # "~" or "~user" is a home directory, never relative; not expanded here: whether that user exists
    # depends on the machine, so one profile must not stop the others loading (the platform says so,
    # in one line, when the target is used)
    in_home = isinstance(kubeconfig, str) and kubeconfig.startswith("~")
    if (
        source is not None
        and isinstance(kubeconfig, str)
        and not in_home
        and not Path(kubeconfig).is_absolute()
    ):
        # Relative to the targets file, so the profile means the same from any working directory.
        values["kubeconfig"] = str(source.parent / kubeconfig)
    return Target(name=name, **values)


def load_targets(path: Path | str = DEFAULT_TARGETS_FILE) -> dict[str, Target]:
    """Every profile in the targets file, by name. :class:`TargetError` (one line naming the file, the
    target, the key and what it must be) for anything the schema does not allow."""
    if isinstance(path, str) and not path.strip():  # Path("") would be ".", the working directory
        raise TargetError("the targets file's name is empty")
    source = Path(path)
    document = _read(source)
    if not isinstance(document, Mapping) or not isinstance(document.get("targets"), Mapping):
        raise TargetError(f"targets file {source} needs a top-level 'targets:' mapping of profiles")
    unknown = sorted(str(key) for key in document if key != "targets")
    if unknown:
        raise TargetError(f"targets file {source}: unknown top-level keys {unknown}; known: ['targets']")
    profiles = document["targets"]
    if not profiles:
        raise TargetError(f"targets file {source}: 'targets:' has no profiles")
    return {str(name): profile_target(name, raw, source) for name, raw in profiles.items()}


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


def _overridden(target: Target, overrides: Mapping[str, Any], label: Callable[[str], str]) -> Target:
    given = {key: value for key, value in overrides.items() if value is not None}
    where = f"target {target.name!r}"
    unknown = sorted(key for key in given if key not in _TARGET_SCHEMA)
    if unknown:
        raise TargetError(f"{where}: cannot override {unknown}; known: {sorted(_TARGET_SCHEMA)}")
    for key, value in given.items():
        expected = _TARGET_SCHEMA[key](value)
        if expected is not None:
            raise TargetError(f"{where}: {label(key)} must be {expected}, not {shown(value)}")
    return replace(target, **given)


def target_from_options(option: Callable[[str], Any]) -> Target:
    """The target the ``TARGET_OPTIONS`` name, with their overrides applied; ``option(dest)`` reads one
    (``config.getoption`` under pytest, the parsed arguments on the command line). TargetError for a
    user mistake, naming the option."""
    targets_file = option("targets_file")
    if targets_file is not None and not str(targets_file).strip():
        # an empty value (an unset shell variable, say) must not quietly mean the default file
        raise TargetError("--targets-file is empty: name the targets file, or leave the option out")
    target = load_target(option("target"), DEFAULT_TARGETS_FILE if targets_file is None else targets_file)
    flags = {o.dest: o.flag for o in _OVERRIDE_OPTIONS}
    return _overridden(target, {o.dest: option(o.dest) for o in _OVERRIDE_OPTIONS}, flags.__getitem__)


class ChaosNotAllowed(Exception):
    """The target forbids chaos; the message is one line for the user."""


def require_chaos_allowed(target: Target) -> None:
    """Raise :class:`ChaosNotAllowed` unless ``target.allow_chaos`` is true; call before any change."""
    if target.allow_chaos is not True:  # only the boolean True is permission, never a truthy value
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
        document = json.loads(read_user_text(source))
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
