"""scripts/kind-up.sh run against recording stand-ins for kind, docker, kubectl and python."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from deploy_files import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "kind-up.sh"
IMAGE = "ghcr.io/your-org/offgridflow-api"
CREATE = "kind create cluster --config kind-config.yaml --wait 180s"
APPLY = "kubectl --context kind-offgridflow apply -k"
Run = tuple[subprocess.CompletedProcess[str], list[str]]
RECORDER = """#!/bin/sh
echo "$(basename "$0") $*" >> "$CALLS"
exit 0
"""


@pytest.fixture
def stand_ins(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("kind", "docker", "kubectl", "python"):
        tool = folder / name
        tool.write_text(RECORDER)
        tool.chmod(0o755)
    return folder


def run_kind_up(
    stand_ins: Path, tmp_path: Path, **extra: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    calls = tmp_path / "calls.txt"
    calls.touch()
    environment = {
        "PATH": f"{stand_ins}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CALLS": str(calls),
        "PYTHON": str(stand_ins / "python"),
        **extra,
    }
    result = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60, env=environment, check=False
    )
    return result, calls.read_text().splitlines()


def test_kind_up_creates_the_cluster_loads_both_tags_applies_the_overlay_and_waits(
    stand_ins: Path, tmp_path: Path
) -> None:
    result, calls = run_kind_up(stand_ins, tmp_path)
    assert result.returncode == 0, result.stderr
    create = calls.index(CREATE)
    loads = [
        calls.index(f"kind load docker-image --name offgridflow ghcr.io/your-org/offgridflow-api:{tag}")
        for tag in ("v1.3.0", "v1.2.3")
    ]
    apply = calls.index("kubectl --context kind-offgridflow apply -k deploy/kubernetes/overlays/kind")
    waits = [index for index, call in enumerate(calls) if " rollout status " in call]
    assert create < min(loads)
    assert max(loads) < apply < min(waits)
    assert len(waits) == 6
    assert any("_build_wheelhouse" in call for call in calls[:apply])


def test_kind_up_passes_the_node_image_and_overlay_it_is_given(stand_ins: Path, tmp_path: Path) -> None:
    overlay = "deploy/kubernetes/overlays/kind-inplace-config"
    result, calls = run_kind_up(
        stand_ins, tmp_path, KIND_NODE_IMAGE="kindest/node:v1.32.0", KIND_OVERLAY=overlay
    )
    assert result.returncode == 0, result.stderr
    assert "kind create cluster --config kind-config.yaml --wait 180s --image kindest/node:v1.32.0" in calls
    assert f"kubectl --context kind-offgridflow apply -k {overlay}" in calls


def test_kind_up_without_kind_says_so_and_downloads_nothing(stand_ins: Path, tmp_path: Path) -> None:
    (stand_ins / "kind").unlink()
    result, calls = run_kind_up(stand_ins, tmp_path, PATH=f"{stand_ins}:/usr/bin:/bin")
    if os.path.exists("/usr/bin/kind") or os.path.exists("/bin/kind"):
        pytest.skip("a real kind is installed in /usr/bin or /bin, so it cannot be made missing here")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: kind is not on PATH (set KIND=/path/to/kind); this script never downloads it"
    )
    assert calls == []
