"""Paths and readers for the deployment files: kustomize renders, rule files, workflows.

Everything here reads files and runs local tools (kubectl kustomize, promtool, amtool,
actionlint); nothing talks to a cluster or the network.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"
PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"
RULES_FILE = PROMETHEUS / "rules" / "offgridflow.rules.yml"
RULE_TESTS_FILE = PROMETHEUS / "tests" / "offgridflow.test.yml"
# the synthetic monitor's page, apart from the runbook's alerts (see the file's header)
SYNTHETIC_RULES_FILE = PROMETHEUS / "rules" / "offgridflow-synthetic.rules.yml"
SYNTHETIC_RULE_TESTS_FILE = PROMETHEUS / "tests" / "offgridflow-synthetic.test.yml"
RUNBOOK = REPO_ROOT / "docs" / "runbooks" / "offgridflow-api-down.md"
KIND_CONFIG = REPO_ROOT / "kind-config.yaml"
WORKFLOWS = REPO_ROOT / ".github" / "workflows"

KUSTOMIZATIONS = {
    "base": KUBERNETES / "base",
    "kind": KUBERNETES / "overlays" / "kind",
    "kind-inplace-config": KUBERNETES / "overlays" / "kind-inplace-config",
    "kind-offline": KUBERNETES / "overlays" / "kind-offline",
}
# The Kubernetes the project's cluster runs: the offline node image is built from this module's pin.
CLUSTER_GO_MOD = REPO_ROOT / "tools" / "cluster" / "kubernetes" / "go.mod"

Manifest = dict[str, Any]


@functools.cache
def cluster_kubernetes_version() -> str:
    """``1.34.4``: the version of k8s.io/kubernetes the cluster's binaries are built from."""
    match = re.search(r"^\s*k8s\.io/kubernetes v(\d+\.\d+\.\d+)\b", CLUSTER_GO_MOD.read_text(), re.MULTILINE)
    if match is None:
        raise AssertionError(f"{CLUSTER_GO_MOD} pins no k8s.io/kubernetes version")
    return match[1]


def schema_version() -> str:
    """The schema the manifests are validated against: the cluster's minor version (kubernetes-validate
    bundles one schema per minor, ``1.34.0``; patch releases do not change the API)."""
    major, minor, _ = cluster_kubernetes_version().split(".")
    return f"{major}.{minor}.0"


def require_tool(name: str, why: str) -> str:
    """The tool's path, or skip the test naming the missing tool and what it is for."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not on PATH; {why}")
    return path


@functools.cache
def _render(folder: Path) -> tuple[Manifest, ...]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {folder} failed: {result.stderr.strip()}")
    return tuple(document for document in yaml.safe_load_all(result.stdout) if document)


def render(folder: Path) -> list[Manifest]:
    """The objects `kubectl kustomize folder` renders (cached per folder; callers get copies)."""
    require_tool("kubectl", "it renders the kustomizations (kubectl kustomize)")
    return [yaml.safe_load(yaml.safe_dump(document)) for document in _render(folder)]


def find(objects: list[Manifest], kind: str, name: str, namespace: str | None = None) -> Manifest:
    """The one object of `kind` named `name` (and in `namespace`, if given)."""
    matches = [
        item
        for item in objects
        if item["kind"] == kind
        and item["metadata"]["name"] == name
        and (namespace is None or item["metadata"].get("namespace") == namespace)
    ]
    assert len(matches) == 1, f"expected one {kind} {name!r}, found {len(matches)}"
    return matches[0]


def of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [item for item in objects if item["kind"] == kind]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))
