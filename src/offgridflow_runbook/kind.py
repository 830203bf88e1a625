"""The kind cluster for the ``kind`` tests and the game day: create or reuse, load, deploy, wait.

Built on pytest-kind's ``KindCluster`` with one hard rule: nothing is ever downloaded. pytest-kind
fetches kind from GitHub (``ensure_kind``) and kubectl from dl.k8s.io (``ensure_kubectl``) when
its paths do not exist; :class:`NoDownloadKindCluster` always gets explicit, existing binaries and
replaces both methods with checks that raise :class:`KindUnavailable` instead. (pytest-kind's own
pytest plugin, whose ``kind_cluster`` fixture would download, is disabled in pyproject's addopts.)

When the cluster cannot be had here — no kind binary, no Docker, a node image that cannot be
pulled — :func:`start_kind_session` raises :class:`KindUnavailable` with the exact reason, and
the ``kind`` tests skip with it.
"""

from __future__ import annotations

import os
import platform as host_platform
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from pytest_kind import KindCluster

from offgridflow_runbook.targets import Target, load_target

__all__ = [
    "NO_KIND_REASON",
    "KindSession",
    "KindSettings",
    "KindUnavailable",
    "NoDownloadKindCluster",
    "find_kind_binary",
    "kind_settings",
    "node_image",
    "start_kind_session",
    "stop_kind_session",
]

NO_KIND_REASON = (
    "kind binary not found: pass --kind-bin or put kind on PATH "
    "(pytest-kind would download it from GitHub, which this suite never allows)"
)
DEFAULT_CLUSTER_NAME = "offgridflow"
NODE_IMAGE_ENV = "KIND_NODE_IMAGE"
IMAGES_ENV = "OFFGRIDFLOW_KIND_IMAGES"
# The kind overlay keeps the runbook's image names with imagePullPolicy IfNotPresent: both tags are
# built locally and loaded into the nodes, so a tag that was not loaded fails to pull.
DEFAULT_IMAGES = (
    "ghcr.io/your-org/offgridflow-api:v1.3.0",
    "ghcr.io/your-org/offgridflow-api:v1.2.3",
)
# What `kubectl apply -k` must bring up before the tests start, in the runbook's namespace.
ROLLOUTS = ("deployment/offgridflow-api", "statefulset/postgres")
PULL_TIMEOUT_SECONDS = 300.0
COMMAND_TIMEOUT_SECONDS = 600.0

Runner = Callable[..., subprocess.CompletedProcess[str]]


class KindUnavailable(Exception):
    """The kind cluster cannot be had on this machine; the message is the skip reason."""


@dataclass(frozen=True)
class KindSettings:
    """Everything the session needs, resolved from options, environment and kind-config.yaml."""

    kind_bin: Path
    kubectl_bin: Path
    cluster_name: str
    config_file: Path
    kubeconfig: Path
    overlay: Path
    node_image: str | None
    images: tuple[str, ...] = DEFAULT_IMAGES
    keep_cluster: bool = False
    rollout_timeout: float = 300.0
    namespace: str = "offgridflow"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_kind_binary(option: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    """``--kind-bin``, else ``$KIND_BIN``, else ``kind`` on PATH; KindUnavailable when there is none."""
    for source, candidate in (("--kind-bin", option), ("KIND_BIN", environ.get("KIND_BIN"))):
        if candidate:
            path = Path(candidate).expanduser()
            if not _executable(path):
                raise KindUnavailable(
                    f"kind binary {path} (from {source}) does not exist or is not executable"
                )
            return path
    found = shutil.which("kind", path=environ.get("PATH", ""))
    if not found:
        raise KindUnavailable(NO_KIND_REASON)
    return Path(found)


def find_kubectl(environ: Mapping[str, str] = os.environ) -> Path:
    found = environ.get("KUBECTL_BIN") or shutil.which("kubectl", path=environ.get("PATH", ""))
    if not found or not _executable(Path(found)):
        raise KindUnavailable(
            "kubectl not found: put kubectl on PATH or set KUBECTL_BIN "
            "(pytest-kind would download it, which this suite never allows)"
        )
    return Path(found)


def _read_config(config_file: Path) -> dict[str, object]:
    try:
        document = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KindUnavailable(f"kind config {config_file} not found") from None
    except yaml.YAMLError as error:
        raise KindUnavailable(f"kind config {config_file} is not valid YAML: {error}") from None
    return document if isinstance(document, dict) else {}


def node_image(config_file: Path, environ: Mapping[str, str] = os.environ) -> str | None:
    """``$KIND_NODE_IMAGE``, else the image pinned on the nodes of kind-config.yaml (None: kind's default)."""
    if environ.get(NODE_IMAGE_ENV):
        return environ[NODE_IMAGE_ENV]
    nodes = _read_config(config_file).get("nodes") or []
    images = (
        [n.get("image") for n in nodes if isinstance(n, dict) and n.get("image")]
        if isinstance(nodes, list)
        else []
    )
    return str(images[0]) if images else None


def kind_settings(
    *,
    kind_bin_option: str | None,
    keep_cluster: bool,
    root: Path = Path(),
    environ: Mapping[str, str] = os.environ,
) -> KindSettings:
    """Resolve the settings; KindUnavailable (the skip reason) when a prerequisite is missing."""
    kind_bin = find_kind_binary(kind_bin_option, environ)
    config_file = root / "kind-config.yaml"
    name = str(_read_config(config_file).get("name") or DEFAULT_CLUSTER_NAME)
    overlay = root / "deploy" / "kubernetes" / "overlays" / "kind"
    if not (overlay / "kustomization.yaml").is_file():
        raise KindUnavailable(f"kind overlay {overlay} has no kustomization.yaml")
    return KindSettings(
        kind_bin=kind_bin,
        kubectl_bin=find_kubectl(environ),
        cluster_name=name,
        config_file=config_file,
        kubeconfig=root / ".state" / "kind" / f"{name}.kubeconfig",
        overlay=overlay,
        node_image=node_image(config_file, environ),
        images=tuple(i for i in environ.get(IMAGES_ENV, "").split(",") if i.strip()) or DEFAULT_IMAGES,
        keep_cluster=keep_cluster,
    )


class NoDownloadKindCluster(KindCluster):  # type: ignore[misc]
    """pytest-kind's KindCluster that never downloads and keeps its files under ``.state/kind``."""

    def __init__(self, settings: KindSettings) -> None:
        # pytest-kind's __init__ would create .pytest-kind/<name>; the same attributes, our paths.
        self.name = settings.cluster_name
        self.image = settings.node_image
        self.path = settings.kubeconfig.parent
        self.path.mkdir(parents=True, exist_ok=True)
        self.kubeconfig_path = settings.kubeconfig
        self.kind_path = settings.kind_bin
        self.kubectl_path = settings.kubectl_bin
        self.platform = host_platform.system().lower()

    def ensure_kind(self) -> None:
        if not _executable(Path(self.kind_path)):
            raise KindUnavailable(f"kind binary {self.kind_path} is missing; it is never downloaded")

    def ensure_kubectl(self) -> None:
        if not _executable(Path(self.kubectl_path)):
            raise KindUnavailable(f"kubectl binary {self.kubectl_path} is missing; it is never downloaded")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def missing_images(images: Sequence[str], run: Runner = subprocess.run, docker: str = "docker") -> list[str]:
    """The images ``kind load docker-image`` would not find in the local Docker engine."""
    return [
        image
        for image in images
        if run(
            [docker, "image", "inspect", image], capture_output=True, text=True, timeout=60, check=False
        ).returncode
    ]


def check_node_image(image: str | None, run: Runner = subprocess.run, docker: str = "docker") -> None:
    """The node image is present or can be pulled; KindUnavailable with the exact reason if not."""
    if image is None:
        return  # kind's built-in default; `kind create` reports a pull failure itself
    if shutil.which(docker) is None:
        raise KindUnavailable(f"docker not found: kind needs a container engine to run node image {image}")
    present = run(
        [docker, "image", "inspect", image], capture_output=True, text=True, timeout=60, check=False
    )
    if present.returncode == 0:
        return
    try:
        pulled = run(
            [docker, "pull", image], capture_output=True, text=True, timeout=PULL_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise KindUnavailable(
            f"kind node image {image} cannot be pulled: no answer within {PULL_TIMEOUT_SECONDS:.0f}s"
        ) from None
    if pulled.returncode != 0:
        raise KindUnavailable(
            f"kind node image {image} cannot be pulled: {_last_line(pulled.stderr or pulled.stdout)}"
        )


@dataclass
class KindSession:
    """A running cluster with the overlay deployed, and how to reach it."""

    settings: KindSettings
    cluster: NoDownloadKindCluster
    created: bool

    def kubectl(self, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS) -> str:
        """kubectl against this cluster's own kubeconfig (never the user's)."""
        result = subprocess.run(
            [str(self.settings.kubectl_bin), "--kubeconfig", str(self.settings.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"kubectl {' '.join(args)} failed: {_last_line(result.stderr or result.stdout)}"
            )
        return result.stdout

    def target(self, targets_file: Path | str = "targets.yaml") -> Target:
        """The ``kind`` target profile, pointed at this cluster's kubeconfig and context."""
        base = load_target("kind", targets_file)
        return replace(
            base, kubeconfig=str(self.settings.kubeconfig), kube_context=f"kind-{self.settings.cluster_name}"
        )


def _existing_clusters(settings: KindSettings) -> list[str]:
    result = subprocess.run(
        [str(settings.kind_bin), "get", "clusters"], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise KindUnavailable(f"kind get clusters failed: {_last_line(result.stderr)}")
    return result.stdout.split()


def wait_for_rollouts(session: KindSession, rollouts: Sequence[str] = ROLLOUTS) -> None:
    """The runbook's workloads rolled out, then every Deployment available (Prometheus, Alertmanager,
    kube-state-metrics, metrics-server for ``kubectl top``), all within one deadline."""
    deadline = time.monotonic() + session.settings.rollout_timeout
    namespace = session.settings.namespace
    steps = [("rollout", "status", workload, "-n", namespace) for workload in rollouts]
    steps.append(("wait", "--for=condition=Available", "deployment", "--all", "--all-namespaces"))
    for step in steps:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(
                f"the kind overlay was not ready within {session.settings.rollout_timeout:.0f}s"
            )
        session.kubectl(*step, f"--timeout={max(1, int(remaining))}s", timeout=remaining + 30)


def _export_kubeconfig(settings: KindSettings) -> None:
    command = [str(settings.kind_bin), "export", "kubeconfig", "--name", settings.cluster_name]
    result = subprocess.run(
        [*command, "--kubeconfig", str(settings.kubeconfig)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kind export kubeconfig failed: {_last_line(result.stderr)}")


def start_kind_session(settings: KindSettings) -> KindSession:
    """Create (or reuse) the cluster, load the images, apply the kind overlay and wait for it."""
    check_node_image(settings.node_image)
    missing = missing_images(settings.images)
    if missing:
        raise RuntimeError(
            f"not in the local Docker engine, so kind cannot load them: {', '.join(missing)} "
            f"(build them first, or name others in ${IMAGES_ENV})"
        )
    cluster = NoDownloadKindCluster(settings)
    created = settings.cluster_name not in _existing_clusters(settings)
    if not created:
        # pytest-kind reads the kubeconfig of a reused cluster; ours may be stale or missing.
        _export_kubeconfig(settings)
    cluster.create(settings.config_file)
    session = KindSession(settings=settings, cluster=cluster, created=created)
    for image in settings.images:
        cluster.load_docker_image(image)
    session.kubectl("apply", "-k", str(settings.overlay))
    wait_for_rollouts(session)
    return session


def stop_kind_session(session: KindSession) -> None:
    """Delete the cluster if this session created it, unless ``--keep-cluster`` was given.

    A cluster that already existed (``make kind-up``, a CI step) is someone else's: it is left alone.
    """
    if session.created and not session.settings.keep_cluster:
        session.cluster.delete()
