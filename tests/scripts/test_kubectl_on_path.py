"""The kubectl the suite renders and compares with is the cluster's own (make test puts it first on
PATH): the Kubernetes version tools/cluster pins, which the kind cluster runs, not whatever kubectl
the machine happens to have."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.skip_policy import is_strict

GO_MOD = Path(__file__).resolve().parents[2] / "tools" / "cluster" / "kubernetes" / "go.mod"


def pinned_kubernetes() -> str:
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", GO_MOD.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"no k8s.io/kubernetes version in {GO_MOD}"
    return match.group(1)


def test_the_kubectl_on_path_is_the_one_the_cluster_toolchain_built(pytestconfig: pytest.Config) -> None:
    if not is_strict(pytestconfig):
        # outside CI any kubectl may render the manifests; in CI (make test) only ours counts
        pytest.skip("checked only where unexpected skips fail the run (CI=true or --fail-on-unexpected-skip)")
    kubectl = shutil.which("kubectl")
    assert kubectl, "no kubectl on PATH: make test builds the cluster's own into .state/bin"
    result = subprocess.run(
        [kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True, timeout=30, check=True
    )
    client = json.loads(result.stdout)["clientVersion"]["gitVersion"]
    assert client == pinned_kubernetes(), f"{kubectl} is kubectl {client}, not the cluster's own"
