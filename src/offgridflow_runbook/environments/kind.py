"""The kind cluster for the ``kind`` tests and the game day: create or reuse, deploy, tear down.

One way to make the cluster: ``scripts/kind-up.sh`` (``make kind-up``) builds the offline node image
and the images, starts the registry the nodes pull from, creates or reuses the cluster and rolls the
overlay out. :func:`start_kind_session` runs that script with its progress on the terminal and then
holds the cluster through pytest-kind's ``KindCluster``, with one hard rule: nothing is ever
downloaded. pytest-kind fetches kind from GitHub (``ensure_kind``) and kubectl from dl.k8s.io
(``ensure_kubectl``) when its paths do not exist; :class:`NoDownloadKindCluster` always gets explicit,
existing binaries and replaces both methods with checks that raise :class:`KindUnavailable` instead.
(pytest-kind's own pytest plugin, whose ``kind_cluster`` fixture would download, is disabled in
pyproject's addopts.)

When the cluster cannot be had here (no Docker Engine, no Go to build kind and the node image, no
kind binary given) :func:`kind_settings` raises :class:`KindUnavailable` with the exact reason and the
``kind`` tests skip with it. A build or deploy that fails is an error, not a skip.
"""

from __future__ import annotations

import base64
import os
import platform as host_platform
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from pytest_kind import KindCluster

from offgridflow_runbook.targets import Target, load_target

__all__ = [
    "CLUSTER_CACHE",
    "NO_KIND_REASON",
    "KindSession",
    "KindSettings",
    "KindUnavailable",
    "KindUpTimeout",
    "NoDownloadKindCluster",
    "find_kind_binary",
    "kind_settings",
    "kind_up",
    "start_kind_session",
    "stop_kind_session",
]

NO_KIND_REASON = (
    "kind binary not found: pass --kind-bin, set KIND_BIN, put kind on PATH, or install Go so that "
    "make kind-up builds it (pytest-kind would download it from GitHub, which this suite never allows)"
)
DEFAULT_CLUSTER_NAME = "offgridflow"
NODE_IMAGE_ENV = "KIND_NODE_IMAGE"
CACHE_ENV = "OFFGRIDFLOW_CLUSTER_CACHE"
# Where tools/cluster builds kind, kubectl and the rest (outside the checkout, shared by clones).
CLUSTER_CACHE = Path("/var/cache/offgridflow-cluster")
KIND_UP_TIMEOUT_SECONDS = 3600.0
# how long kind-up.sh gets to end after SIGTERM before its process group is killed
KIND_UP_STOP_SECONDS = 10.0
COMMAND_TIMEOUT_SECONDS = 600.0

Say = Callable[[str], None]


class KindUnavailable(Exception):
    """The kind cluster cannot be had on this machine; the message is the skip reason."""


class KindUpTimeout(RuntimeError):
    """``scripts/kind-up.sh`` did not finish in time; it and everything it started were stopped."""


@dataclass(frozen=True)
class KindSettings:
    """Everything the session needs, resolved from options, environment and kind-config.yaml."""

    root: Path
    kind_bin: Path | None  # None: make kind-up builds ours into the cluster cache
    kubectl_bin: Path | None
    cluster_name: str
    config_file: Path
    kubeconfig: Path
    node_image: str | None  # None: the offline node image built here
    keep_cluster: bool = False
    namespace: str = "offgridflow"


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def cluster_cache(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(CACHE_ENV) or CLUSTER_CACHE)


def find_kind_binary(option: str | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """``--kind-bin``, else ``$KIND_BIN``, else ours in the cluster cache, else ``kind`` on PATH.

    None when there is none yet but Go can build ours; KindUnavailable when neither.
    """
    for source, candidate in (("--kind-bin", option), ("KIND_BIN", environ.get("KIND_BIN"))):
        if candidate:
            try:
                path = Path(candidate).expanduser()
            except RuntimeError:  # "~someone" of a user this machine does not have
                raise KindUnavailable(
                    f"kind binary {candidate} (from {source}): no such user's home"
                ) from None
            if not _executable(path):
                raise KindUnavailable(
                    f"kind binary {path} (from {source}) does not exist or is not executable"
                )
            return path
    ours = cluster_cache(environ) / "bin" / "kind"
    if _executable(ours):
        return ours
    found = shutil.which("kind", path=environ.get("PATH", ""))
    if found:
        return Path(found)
    if shutil.which("go", path=environ.get("PATH", "")):
        return None
    raise KindUnavailable(NO_KIND_REASON)


def _find_kubectl(environ: Mapping[str, str]) -> Path | None:
    for candidate in (environ.get("KUBECTL_BIN"), str(cluster_cache(environ) / "bin" / "kubectl")):
        if candidate and _executable(Path(candidate)):
            return Path(candidate)
    found = shutil.which("kubectl", path=environ.get("PATH", ""))
    return Path(found) if found else None


def _read_config(config_file: Path) -> dict[str, object]:
    try:
        document = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KindUnavailable(f"kind config {config_file} not found") from None
    except yaml.YAMLError as error:
        raise KindUnavailable(f"kind config {config_file} is not valid YAML: {error}") from None
    return document if isinstance(document, dict) else {}


def kind_settings(
    *,
    kind_bin_option: str | None,
    keep_cluster: bool,
    root: Path = Path(),
    environ: Mapping[str, str] = os.environ,
) -> KindSettings:
    """Resolve the settings; KindUnavailable (the skip reason) when a prerequisite is missing."""
    if shutil.which("docker", path=environ.get("PATH", "")) is None:
        raise KindUnavailable("docker not found: kind runs its nodes on a Docker Engine (make system-deps)")
    config_file = root / "kind-config.yaml"
    name = str(_read_config(config_file).get("name") or DEFAULT_CLUSTER_NAME)
    return KindSettings(
        root=root,
        kind_bin=find_kind_binary(kind_bin_option, environ),
        kubectl_bin=_find_kubectl(environ),
        cluster_name=name,
        config_file=config_file,
        kubeconfig=root / ".state" / "kind" / f"{name}.kubeconfig",
        node_image=environ.get(NODE_IMAGE_ENV) or None,
        keep_cluster=keep_cluster,
    )


class NoDownloadKindCluster(KindCluster):  # type: ignore[misc]
    """pytest-kind's KindCluster that never downloads and keeps its files under ``.state/kind``."""

    def __init__(self, name: str, kubeconfig: Path, kind_bin: Path, kubectl_bin: Path) -> None:
        # pytest-kind's __init__ would create .pytest-kind/<name>; the same attributes, our paths.
        self.name = name
        self.image = None
        self.path = kubeconfig.parent
        self.path.mkdir(parents=True, exist_ok=True)
        self.kubeconfig_path = kubeconfig
        self.kind_path = kind_bin
        self.kubectl_path = kubectl_bin
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


@dataclass
class KindSession:
    """A running cluster with the overlay deployed, and how to reach it."""

    settings: KindSettings
    cluster: NoDownloadKindCluster
    created: bool

    def kubectl(self, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS) -> str:
        """kubectl against this cluster's own kubeconfig (never the user's)."""
        result = subprocess.run(
            [str(self.cluster.kubectl_path), "--kubeconfig", str(self.settings.kubeconfig), *args],
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

    def api_token(self) -> str:
        """The first API token of the cluster's ``offgridflow-secrets`` (what the checks send)."""
        encoded = self.kubectl(
            "-n",
            self.settings.namespace,
            "get",
            "secret",
            "offgridflow-secrets",
            "-o",
            "jsonpath={.data.OFFGRIDFLOW_API_TOKENS}",
        )
        return base64.b64decode(encoded).decode().split(",")[0].strip()

    def target(self, targets_file: Path | str = "targets.yaml") -> Target:
        """The ``kind`` target profile, pointed at this cluster's kubeconfig and context."""
        base = load_target("kind", targets_file)
        return replace(
            base, kubeconfig=str(self.settings.kubeconfig), kube_context=f"kind-{self.settings.cluster_name}"
        )


def _cluster_exists(kind_bin: Path | None, name: str) -> bool:
    if kind_bin is None:
        return False
    result = subprocess.run(
        [str(kind_bin), "get", "clusters"], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise KindUnavailable(f"kind get clusters failed: {_last_line(result.stderr)}")
    return name in result.stdout.split()


def _print_past_capture(line: str) -> None:
    # pytest captures sys.stdout during fixtures; the build's progress belongs on the terminal.
    stream = sys.__stderr__
    if stream is not None:
        stream.write(line + "\n")
        stream.flush()


def _stop_group(process: subprocess.Popen[str]) -> None:
    # kind-up.sh runs builds, docker and kind below it: the whole process group goes, not only bash
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=KIND_UP_STOP_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def _pump(stream: Iterable[str], lines: queue.Queue[str | None]) -> None:
    try:
        for raw in stream:
            lines.put(raw)
    except (OSError, ValueError):
        pass  # the pipe was closed under the reader after a timeout: the end of the output all the same
    finally:
        lines.put(None)


def kind_up(
    settings: KindSettings, say: Say = _print_past_capture, timeout: float = KIND_UP_TIMEOUT_SECONDS
) -> None:
    """Run ``scripts/kind-up.sh`` (idempotent), its output line by line through ``say``.

    The ``timeout`` (seconds) holds while the output streams: past it the script and everything it
    started are stopped and :class:`KindUpTimeout` names the last lines it printed.
    """
    environ = dict(os.environ)
    environ["KUBECONFIG_OUT"] = str(settings.kubeconfig)
    environ["PYTHON"] = sys.executable
    if settings.kind_bin is not None:
        environ["KIND"] = str(settings.kind_bin)
    if settings.kubectl_bin is not None:
        environ["KUBECTL"] = str(settings.kubectl_bin)
    if settings.node_image:
        environ[NODE_IMAGE_ENV] = settings.node_image
    command = ["bash", str(settings.root / "scripts" / "kind-up.sh")]
    tail: list[str] = []
    deadline = time.monotonic() + timeout
    lines: queue.Queue[str | None] = queue.Queue()
    with subprocess.Popen(
        command,
        cwd=settings.root,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so that a timeout stops all of it
    ) as process:
        assert process.stdout is not None
        # A reader thread, because reading the pipe blocks: the deadline is checked between lines.
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        try:
            while (raw := lines.get(timeout=max(deadline - time.monotonic(), 0.0))) is not None:
                line = raw.rstrip()
                tail = [*tail[-19:], line]
                say(line)
            process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except (queue.Empty, subprocess.TimeoutExpired):
            _stop_group(process)
            last = " | ".join(tail[-3:]) or "no output"
            raise KindUpTimeout(
                f"make kind-up did not finish within {timeout:g} s and was stopped: {last}"
            ) from None
        except BaseException:
            _stop_group(process)  # interrupted (Ctrl-C): the new session does not get the terminal's SIGINT
            raise
    if process.returncode != 0:
        detail = " | ".join(line for line in tail if line.startswith("error:")) or " | ".join(tail[-3:])
        raise RuntimeError(f"make kind-up failed (exit {process.returncode}): {detail}")


def start_kind_session(settings: KindSettings, say: Say = _print_past_capture) -> KindSession:
    """Create (or reuse) the cluster with everything deployed, through ``scripts/kind-up.sh``."""
    created = not _cluster_exists(settings.kind_bin, settings.cluster_name)
    kind_up(settings, say)
    cache = cluster_cache()
    kind_bin = settings.kind_bin or cache / "bin" / "kind"
    kubectl_bin = settings.kubectl_bin or _find_kubectl(os.environ) or cache / "bin" / "kubectl"
    cluster = NoDownloadKindCluster(settings.cluster_name, settings.kubeconfig, kind_bin, kubectl_bin)
    cluster.ensure_kind()
    cluster.ensure_kubectl()
    return KindSession(settings=settings, cluster=cluster, created=created)


def stop_kind_session(session: KindSession) -> None:
    """Delete the cluster if this session created it, unless ``--keep-cluster`` was given.

    A cluster that already existed (``make kind-up``, a CI step) is someone else's: it is left alone.
    """
    if session.created and not session.settings.keep_cluster:
        session.cluster.delete()
