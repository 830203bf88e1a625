"""Identity before any change, on Kubernetes: the real driver against the HTTP Kubernetes API fake.

The kind profile declares its cluster (``offgridflow``: the kubeconfig's cluster ``kind-offgridflow``),
an API server on loopback and its node. A kubeconfig whose context is called ``kind-offgridflow`` but
points at another cluster or another API server is refused before anything changes, and an API server
that is not the declared one is never contacted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaoslib.exceptions import ActivityFailed

from helpers import kube_fake_seed
from helpers.kube_fake_server import KubeFake, start, stop, write_kubeconfig
from offgridflow_runbook import platforms
from offgridflow_runbook.chaos import GUARDED, _context, faults, registry, steady_state
from offgridflow_runbook.gameday.events import EventKind, EventLog

NODE = "offgridflow-control-plane"
KIND_IDENTITY = {"kind_cluster": "offgridflow", "api_server": "loopback", "nodes": [NODE]}


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeFake]:
    """The fake cluster with the runbook's namespace and a node, reached through the real driver."""
    fake = KubeFake()
    kube_fake_seed.seed_runbook_namespace(fake)
    add_node(fake, NODE)
    running = start(fake)
    fake.requests.clear()
    monkeypatch.setattr(_context, "platform_for", platforms.platform_for)
    try:
        yield fake
    finally:
        stop(running)


def add_node(fake: KubeFake, name: str) -> None:
    fake.put("api/v1", "nodes", {"kind": "Node", "metadata": {"name": name, "namespace": ""}})


def kind_target(
    folder: Path, server: str, *, cluster: str = "kind-offgridflow", identity: object = KIND_IDENTITY
) -> Path:
    """A targets file whose ``kind`` profile is the real one's shape, with a kubeconfig whose context
    is ``kind-offgridflow`` (whatever cluster and server it names)."""
    kubeconfig = write_kubeconfig(folder / "kubeconfig", server, context="kind-offgridflow", cluster=cluster)
    profile = {
        "platform": "kubernetes",
        "kube_context": "kind-offgridflow",
        "kubeconfig": str(kubeconfig),
        "namespace": "offgridflow",
        "base_url": "http://127.0.0.1:9",
        "allow_chaos": True,
        "allow_writes": True,
    }
    if identity is not None:
        profile["identity"] = identity
    path = folder / "targets.yaml"
    path.write_text(json.dumps({"targets": {"kind": profile}}))
    return path


def test_the_declared_cluster_is_changed_and_the_identity_seen_is_recorded(
    kube: KubeFake, configuration: dict[str, str], tmp_path: Path
) -> None:
    configuration["targets_file"] = str(kind_target(tmp_path, kube.url))
    faults.kill_database(target="kind", configuration=configuration)
    assert [(r.method, r.path.split("?")[0]) for r in kube.requests][:1] == [("GET", "/api/v1/nodes")]
    assert any(r.method == "DELETE" and "/pods/postgres-0" in r.path for r in kube.requests)
    (seen,) = [
        e.detail for e in EventLog.for_configuration(configuration).read() if e.kind == EventKind.IDENTITY
    ]
    assert seen["seen"] | {"api_server": None} == {
        "platform": "kubernetes",
        "context": "kind-offgridflow",
        "cluster": "kind-offgridflow",
        "api_server": None,
        "nodes": [NODE],
        "docker_host": None,
        "stack_labels": None,
    }
    assert seen["seen"]["api_server"] == kube.url


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_a_context_named_kind_offgridflow_on_another_cluster_is_refused_unasked(
    name: str, kube: KubeFake, configuration: dict[str, str], tmp_path: Path
) -> None:
    configuration["targets_file"] = str(kind_target(tmp_path, kube.url, cluster="kind-other"))
    with pytest.raises(ActivityFailed) as refused:
        registry.registered()[name].function(target="kind", configuration=configuration)
    assert str(refused.value) == (
        "target 'kind': refusing: expected kind cluster 'offgridflow' (kubeconfig cluster "
        "'kind-offgridflow'), found 'kind-other' (context 'kind-offgridflow')"
    )
    assert kube.requests == []


def test_an_api_server_by_name_is_not_loopback_and_is_never_contacted(
    kube: KubeFake, configuration: dict[str, str], tmp_path: Path
) -> None:
    # "localhost" does reach the fake: a request, had one been sent, would be recorded there
    server = kube.url.replace("127.0.0.1", "localhost")
    configuration["targets_file"] = str(kind_target(tmp_path, server))
    with pytest.raises(
        ActivityFailed, match=re.escape(f"expected an API server on a loopback address, found {server}") + "$"
    ):
        faults.set_image(target="kind", configuration=configuration)
    assert kube.requests == []
    assert steady_state.chaos_allowed("kind", configuration=configuration) is False
    assert kube.requests == []
    assert EventLog.for_configuration(configuration).read() == []


def test_a_remote_api_server_is_refused_before_any_connection(
    kube: KubeFake, configuration: dict[str, str], tmp_path: Path
) -> None:
    configuration["targets_file"] = str(kind_target(tmp_path, "https://10.20.30.40:6443"))
    with pytest.raises(ActivityFailed, match=re.escape("found https://10.20.30.40:6443") + "$"):
        faults.kill_database(target="kind", configuration=configuration)


@pytest.mark.parametrize("name", sorted(GUARDED))
def test_a_cluster_without_the_declared_node_is_refused_after_reading_only_its_nodes(
    name: str, kube: KubeFake, configuration: dict[str, str], tmp_path: Path
) -> None:
    del kube.objects[("api/v1", "nodes", "", NODE)]
    add_node(kube, "other-control-plane")
    configuration["targets_file"] = str(kind_target(tmp_path, kube.url))
    with pytest.raises(
        ActivityFailed,
        match=r"refusing: expected nodes \['offgridflow-control-plane'\], found \['other-control-plane'\]",
    ):
        registry.registered()[name].function(target="kind", configuration=configuration)
    assert [(r.method, r.path.split("?")[0]) for r in kube.requests] == [("GET", "/api/v1/nodes")]


def test_a_chaos_target_without_an_identity_is_refused_with_the_reason(
    kube: KubeFake, configuration: dict[str, str], tmp_path: Path
) -> None:
    configuration["targets_file"] = str(kind_target(tmp_path, kube.url, identity=None))
    with pytest.raises(ActivityFailed, match="allow_chaos is true but the profile declares no identity"):
        faults.kill_database(target="kind", configuration=configuration)
    assert kube.requests == []
