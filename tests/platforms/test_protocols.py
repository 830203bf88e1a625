"""The Platform protocol split: the reads the runbook's steps need, the changes chaos and the fixes
make; a driver is both, and the judging side (runbook/, probes/) asks only for the reads."""

from __future__ import annotations

import ast
from pathlib import Path

from offgridflow_runbook.platforms import Platform, PlatformChanges, PlatformReads
from offgridflow_runbook.platforms.base import CHANGE_METHODS

SRC = Path(__file__).parents[2] / "src" / "offgridflow_runbook"


def members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")} - {"kind"}


def test_reads_and_changes_are_disjoint_and_together_the_platform() -> None:
    assert members(PlatformReads).isdisjoint(members(PlatformChanges))
    assert {n for n in dir(Platform) if not n.startswith("_")} >= members(PlatformReads) | members(
        PlatformChanges
    )
    # every change the guard's tests watch is a change (the ConfigMap scheme switches are Kubernetes' own)
    assert CHANGE_METHODS - {"adopt_in_place_config", "adopt_hashed_config"} <= members(PlatformChanges)
    assert not CHANGE_METHODS & members(PlatformReads)


def test_both_drivers_are_platforms() -> None:
    from offgridflow_runbook.platforms.docker.driver import DockerPlatform
    from offgridflow_runbook.platforms.kubernetes.driver import KubernetesPlatform

    for driver in (DockerPlatform, KubernetesPlatform):
        assert members(PlatformReads) | members(PlatformChanges) <= set(dir(driver)), driver.__name__


def test_the_judging_side_asks_only_for_the_reads() -> None:
    asked = []
    for folder in ("runbook", "probes"):
        for path in sorted((SRC / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "offgridflow_runbook.platforms"
                ):
                    asked += [
                        f"{folder}/{path.name}: {a.name}"
                        for a in node.names
                        if a.name in {"Platform", "PlatformChanges"}
                    ]
    assert asked == []
