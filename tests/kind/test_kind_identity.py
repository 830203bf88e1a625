"""Identity before any change, on the real kind cluster: a profile that allows chaos but declares a
system other than the one that answers is refused by every changing activity before anything changes,
with one line (expected, found). The Deployment is read before and after: not a field moved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from chaoslib.exceptions import ActivityFailed

from offgridflow_runbook.chaos import faults, fixes

pytestmark = pytest.mark.kind


def _deployment(kind_session: Any) -> tuple[str, str]:
    """The API Deployment's generation and template image: what any change would move."""
    raw = kind_session.kubectl("get", "deployment", "offgridflow-api", "-n", "offgridflow", "-o", "json")
    document = json.loads(raw)
    return str(document["metadata"]["generation"]), document["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]


def _profile(kind_session: Any, kubeconfig: Path, identity: dict[str, Any]) -> dict[str, Any]:
    target = kind_session.target(kind_session.settings.config_file.parent / "targets.yaml")
    profile = target.as_profile()
    return {**profile, "kubeconfig": str(kubeconfig), "identity": identity}


def _refused(targets: Path, tmp_path: Path) -> list[str]:
    """Every changing activity a game day starts a fault with, against profile ``other``; the refusals."""
    configuration = {"targets_file": str(targets), "gameday_dir": str(tmp_path / "runs"), "mode": "identity"}
    said = []
    for activity, arguments in (
        (faults.set_image, {"tag": "v9.9.9-does-not-exist"}),
        (faults.update_config, {}),
        (faults.kill_database, {}),
        (fixes.fix_3_rollout_undo, {}),
    ):
        with pytest.raises(ActivityFailed) as refusal:
            activity(target="other", configuration=configuration, **arguments)
        said.append(str(refusal.value))
    return said


def test_nodes_that_the_cluster_does_not_have_are_refused_before_any_change(kind_session, tmp_path: Path):
    before = _deployment(kind_session)
    identity = {"kind_cluster": "offgridflow", "api_server": "loopback", "nodes": ["offgridflow-worker-9"]}
    targets = tmp_path / "targets.yaml"
    profile = _profile(kind_session, kind_session.settings.kubeconfig, identity)
    targets.write_text(yaml.safe_dump({"targets": {"other": profile}}))
    for line in _refused(targets, tmp_path):
        assert "expected nodes ['offgridflow-worker-9'], found ['offgridflow-control-plane']" in line
        assert "\n" not in line
    assert _deployment(kind_session) == before


def test_a_context_named_kind_offgridflow_that_points_elsewhere_is_refused_without_contact(
    kind_session, tmp_path: Path
):
    before = _deployment(kind_session)
    kubeconfig = yaml.safe_load(Path(kind_session.settings.kubeconfig).read_text())
    for cluster in kubeconfig["clusters"]:
        cluster["cluster"]["server"] = "https://offgridflow-elsewhere.invalid:6443"  # never contacted
    elsewhere = tmp_path / "elsewhere.kubeconfig"
    elsewhere.write_text(yaml.safe_dump(kubeconfig))
    identity = {"kind_cluster": "offgridflow", "api_server": "loopback"}
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"targets": {"other": _profile(kind_session, elsewhere, identity)}}))
    for line in _refused(targets, tmp_path):
        assert (
            "expected an API server on a loopback address, found https://offgridflow-elsewhere.invalid"
            in line
        )
    assert _deployment(kind_session) == before
