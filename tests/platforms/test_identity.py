"""The identity comparison: expected (the target's declared Identity) against what answers, one line."""

from __future__ import annotations

import pytest

from offgridflow_runbook.platforms import SeenIdentity
from offgridflow_runbook.platforms.identity import identity_mismatch, is_loopback_url
from offgridflow_runbook.targets import Identity, Target

KIND = Target(
    name="kind",
    platform="kubernetes",
    base_url="http://127.0.0.1:18080",
    allow_chaos=True,
    identity=Identity(
        kind_cluster="offgridflow", api_server="loopback", nodes=("offgridflow-control-plane",)
    ),
)
LOCAL = Target(
    name="local",
    platform="docker",
    base_url="http://127.0.0.1:8080",
    allow_chaos=True,
    identity=Identity(docker_host="unix:///var/run/docker.sock", stack_label="local"),
)
KIND_SEEN = SeenIdentity(
    "kubernetes",
    context="kind-offgridflow",
    cluster="kind-offgridflow",
    api_server="https://127.0.0.1:40123",
    nodes=("offgridflow-control-plane",),
)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("https://127.0.0.1:6443", True),
        ("https://127.8.9.10", True),
        ("https://[::1]:6443", True),
        ("https://localhost:6443", False),
        ("https://10.0.0.1:6443", False),
        ("https://127.0.0.1.example.com", False),
        ("", False),
    ],
)
def test_loopback_means_a_loopback_ip_address(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_the_declared_cluster_matches() -> None:
    assert identity_mismatch(KIND, KIND_SEEN) is None
    # the nodes not read yet (the kubeconfig stage): not compared
    assert (
        identity_mismatch(
            KIND, SeenIdentity("kubernetes", cluster="kind-offgridflow", api_server="https://127.0.0.1:1")
        )
        is None
    )


@pytest.mark.parametrize(
    ("seen", "line"),
    [
        (
            SeenIdentity(
                "kubernetes",
                context="kind-offgridflow",
                cluster="kind-other",
                api_server="https://127.0.0.1:1",
            ),
            "target 'kind': refusing: expected kind cluster 'offgridflow' (kubeconfig cluster "
            "'kind-offgridflow'), found 'kind-other' (context 'kind-offgridflow')",
        ),
        (
            SeenIdentity("kubernetes", cluster="kind-offgridflow", api_server="https://192.168.1.5:6443"),
            "target 'kind': refusing: expected an API server on a loopback address, found https://192.168.1.5:6443",
        ),
        (
            SeenIdentity(
                "kubernetes", cluster="kind-offgridflow", api_server="https://127.0.0.1:1", nodes=("a", "b")
            ),
            "target 'kind': refusing: expected nodes ['offgridflow-control-plane'], found ['a', 'b']",
        ),
        (
            SeenIdentity("docker", docker_host="unix:///var/run/docker.sock"),
            "target 'kind': refusing: expected a kubernetes platform, found docker",
        ),
    ],
)
def test_a_kubernetes_mismatch_is_one_line_expected_found(seen: SeenIdentity, line: str) -> None:
    assert identity_mismatch(KIND, seen) == line


def test_an_explicit_api_server_must_be_that_one() -> None:
    pinned = Target(
        **{**vars(KIND), "identity": Identity(api_server="https://10.1.1.1:6443/", nodes=("n1",))}
    )
    assert (
        identity_mismatch(
            pinned, SeenIdentity("kubernetes", api_server="https://10.1.1.1:6443", nodes=("n1", "n2"))
        )
        is None
    )
    assert identity_mismatch(pinned, KIND_SEEN) == (
        "target 'kind': refusing: expected API server https://10.1.1.1:6443/, found https://127.0.0.1:40123"
    )


def test_docker_engine_and_stack() -> None:
    seen = SeenIdentity("docker", docker_host="unix:///var/run/docker.sock", stack_labels=("local",))
    assert identity_mismatch(LOCAL, seen) is None
    assert identity_mismatch(LOCAL, SeenIdentity("docker", docker_host="tcp://10.0.0.2:2376")) == (
        "target 'local': refusing: expected Docker engine unix:///var/run/docker.sock, found tcp://10.0.0.2:2376"
    )
    assert identity_mismatch(
        LOCAL, SeenIdentity("docker", docker_host="unix:///var/run/docker.sock", stack_labels=())
    ) == ("target 'local': refusing: expected containers of stack 'local', found no stack container")


@pytest.mark.parametrize(
    "identity",
    [None, Identity(), Identity(api_server="loopback"), Identity(kind_cluster="offgridflow")],
)
def test_a_chaos_target_without_a_full_identity_is_refused(identity: Identity | None) -> None:
    target = Target(**{**vars(KIND), "identity": identity})
    assert identity_mismatch(target, KIND_SEEN) == (
        "target 'kind': refusing: allow_chaos is true but the profile declares no identity "
        "(needs identity.api_server and identity.kind_cluster or identity.nodes)"
    )
