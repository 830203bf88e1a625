"""The kind session's skip decision and its guarantee that kind and kubectl are never downloaded."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path

import pytest
import pytest_kind.cluster

from offgridflow_runbook import kind
from offgridflow_runbook.kind import (
    NO_KIND_REASON,
    KindSettings,
    KindUnavailable,
    NoDownloadKindCluster,
    check_node_image,
    find_kind_binary,
    kind_settings,
    node_image,
    start_kind_session,
    stop_kind_session,
)


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def repository(tmp_path) -> Path:
    (tmp_path / "kind-config.yaml").write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: offgridflow\n"
        "nodes:\n- role: control-plane\n  image: kindest/node:v1.32.2\n"
        "- role: worker\n  image: kindest/node:v1.32.2\n"
    )
    overlay = tmp_path / "deploy" / "kubernetes" / "overlays" / "kind"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources: []\n")
    return tmp_path


@pytest.fixture
def bin_dir(tmp_path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


def test_without_any_kind_the_reason_is_exact(bin_dir):
    with pytest.raises(KindUnavailable) as caught:
        find_kind_binary(None, {"PATH": str(bin_dir)})
    assert str(caught.value) == NO_KIND_REASON
    assert str(caught.value) == (
        "kind binary not found: pass --kind-bin or put kind on PATH "
        "(pytest-kind would download it from GitHub, which this suite never allows)"
    )


def test_kind_bin_option_wins_over_environment_and_path(bin_dir, tmp_path):
    on_path = _executable(bin_dir / "kind")
    from_env = _executable(tmp_path / "kind-env")
    from_option = _executable(tmp_path / "kind-option")
    environ = {"PATH": str(bin_dir), "KIND_BIN": str(from_env)}
    assert find_kind_binary(str(from_option), environ) == from_option
    assert find_kind_binary(None, environ) == from_env
    assert find_kind_binary(None, {"PATH": str(bin_dir)}) == on_path


def test_a_named_kind_that_does_not_exist_is_not_looked_up_elsewhere(bin_dir, tmp_path):
    _executable(bin_dir / "kind")
    with pytest.raises(KindUnavailable, match=r"kind binary .*/missing \(from --kind-bin\) does not exist"):
        find_kind_binary(str(tmp_path / "missing"), {"PATH": str(bin_dir)})


def test_settings_need_the_kind_overlay(repository, bin_dir):
    _executable(bin_dir / "kind")
    _executable(bin_dir / "kubectl")
    environ = {"PATH": str(bin_dir)}
    settings = kind_settings(kind_bin_option=None, keep_cluster=True, root=repository, environ=environ)
    assert settings.cluster_name == "offgridflow"
    assert settings.kubeconfig == repository / ".state" / "kind" / "offgridflow.kubeconfig"
    assert settings.node_image == "kindest/node:v1.32.2"
    assert settings.keep_cluster
    (repository / "deploy" / "kubernetes" / "overlays" / "kind" / "kustomization.yaml").unlink()
    with pytest.raises(KindUnavailable, match=r"kind overlay .* has no kustomization\.yaml"):
        kind_settings(kind_bin_option=None, keep_cluster=False, root=repository, environ=environ)


def test_node_image_can_be_overridden_by_the_environment(repository):
    config = repository / "kind-config.yaml"
    assert node_image(config, {}) == "kindest/node:v1.32.2"
    assert node_image(config, {"KIND_NODE_IMAGE": "kindest/node:v1.31.0"}) == "kindest/node:v1.31.0"


def _runner(inspect_code: int, pull_code: int, pull_stderr: str):
    calls: list[list[str]] = []

    def run(command, **_kwargs):
        calls.append(command)
        code = inspect_code if command[1] == "image" else pull_code
        return subprocess.CompletedProcess(command, code, stdout="", stderr=pull_stderr if code else "")

    return run, calls


def test_an_unpullable_node_image_is_the_skip_reason(monkeypatch):
    monkeypatch.setattr(kind.shutil, "which", lambda name, path=None: f"/usr/bin/{name}")
    stderr = (
        'Using default tag\nError response from daemon: Get "https://registry-1.docker.io/v2/": '
        "dial tcp: lookup registry-1.docker.io: no such host\n"
    )
    run, calls = _runner(inspect_code=1, pull_code=1, pull_stderr=stderr)
    with pytest.raises(KindUnavailable) as caught:
        check_node_image("kindest/node:v1.32.2", run=run)
    assert str(caught.value) == (
        "kind node image kindest/node:v1.32.2 cannot be pulled: Error response from daemon: Get "
        '"https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host'
    )
    assert [c[:2] for c in calls] == [["docker", "image"], ["docker", "pull"]]


def test_a_present_node_image_is_not_pulled(monkeypatch):
    monkeypatch.setattr(kind.shutil, "which", lambda name, path=None: f"/usr/bin/{name}")
    run, calls = _runner(inspect_code=0, pull_code=1, pull_stderr="must not be called")
    check_node_image("kindest/node:v1.32.2", run=run)
    assert len(calls) == 1


def _settings(tmp_path: Path, kind_bin: Path, kubectl_bin: Path) -> KindSettings:
    return KindSettings(
        kind_bin=kind_bin,
        kubectl_bin=kubectl_bin,
        cluster_name="offgridflow",
        config_file=tmp_path / "kind-config.yaml",
        kubeconfig=tmp_path / ".state" / "kind" / "offgridflow.kubeconfig",
        overlay=tmp_path,
        node_image=None,
    )


@pytest.fixture
def no_downloads(monkeypatch):
    """Fail the test if pytest-kind's download code path is ever reached."""

    def forbidden(*args, **kwargs):
        pytest.fail(f"pytest-kind tried to download: {args}")

    monkeypatch.setattr(pytest_kind.cluster.requests, "get", forbidden)


@pytest.mark.usefixtures("no_downloads")
def test_the_cluster_never_downloads_a_missing_kind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cluster = NoDownloadKindCluster(_settings(tmp_path, tmp_path / "no-kind", tmp_path / "no-kubectl"))
    with pytest.raises(KindUnavailable, match="is missing; it is never downloaded"):
        cluster.create(tmp_path / "kind-config.yaml")
    with pytest.raises(KindUnavailable, match=r"kubectl binary .* is missing; it is never downloaded"):
        cluster.kubectl("version")
    assert not (tmp_path / ".pytest-kind").exists()  # pytest-kind's own directory is never made


@pytest.mark.usefixtures("no_downloads")
def test_the_cluster_keeps_its_files_under_state_kind(tmp_path):
    kind_bin = _executable(tmp_path / "kind")
    settings = _settings(tmp_path, kind_bin, _executable(tmp_path / "kubectl"))
    cluster = NoDownloadKindCluster(settings)
    assert cluster.kubeconfig_path == settings.kubeconfig
    assert cluster.kind_path == kind_bin
    assert settings.kubeconfig.parent.is_dir()
    cluster.ensure_kind()
    cluster.ensure_kubectl()


def test_pytest_kinds_own_plugin_and_downloading_fixture_are_off(request, pytestconfig):
    assert pytestconfig.pluginmanager.get_plugin("pytest-kind") is None
    with pytest.raises(pytest.FixtureLookupError):
        request.getfixturevalue("kind_cluster")


FAKE_KIND = """#!/bin/sh
echo "kind $*" >> "$FAKE_LOG"
case "$1" in
  get) cat "$FAKE_CLUSTERS" ;;
  create)
    for arg in "$@"; do
      case "$arg" in --kubeconfig=*) cp "$FAKE_KUBECONFIG" "${arg#--kubeconfig=}" ;; esac
    done
    echo offgridflow > "$FAKE_CLUSTERS" ;;
  export) cp "$FAKE_KUBECONFIG" "$6" ;;
esac
exit 0
"""
FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$FAKE_LOG"
case " ${FAKE_MISSING_IMAGES:-} " in *" $3 "*) exit 1 ;; esac
exit 0
"""
FAKE_KUBECTL = """#!/bin/sh
echo "kubectl $*" >> "$FAKE_LOG"
exit "${FAKE_KUBECTL_EXIT:-0}"
"""


@pytest.fixture
def fake_tools(tmp_path, monkeypatch, repository):
    """kind and kubectl stand-ins that log their arguments, and settings that use them."""
    log = tmp_path / "commands.log"
    clusters = tmp_path / "clusters"
    clusters.write_text("")
    kubeconfig_source = tmp_path / "kubeconfig-source"
    kubeconfig_source.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: kind-offgridflow\n"
        "clusters: [{name: kind-offgridflow, cluster: {server: 'http://127.0.0.1:1'}}]\n"
        "users: [{name: kind-offgridflow, user: {token: fake}}]\n"
        "contexts: [{name: kind-offgridflow, context: {cluster: kind-offgridflow, user: kind-offgridflow}}]\n"
    )
    for name, value in {
        "FAKE_LOG": log,
        "FAKE_CLUSTERS": clusters,
        "FAKE_KUBECONFIG": kubeconfig_source,
    }.items():
        monkeypatch.setenv(name, str(value))
    bin_dir = tmp_path / "tools"
    bin_dir.mkdir()
    for name, script in (("kind", FAKE_KIND), ("kubectl", FAKE_KUBECTL), ("docker", FAKE_DOCKER)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    settings = kind_settings(
        kind_bin_option=str(bin_dir / "kind"),
        keep_cluster=False,
        root=repository,
        environ={"PATH": str(bin_dir), "OFFGRIDFLOW_KIND_IMAGES": "api:v1,api:v0"},
    )
    return dataclasses.replace(settings, node_image=None), log, clusters


@pytest.mark.usefixtures("no_downloads")
def test_keep_cluster_keeps_a_created_cluster(fake_tools):
    settings, log, _ = fake_tools
    session = start_kind_session(dataclasses.replace(settings, keep_cluster=True))
    assert session.created
    stop_kind_session(session)
    assert "kind delete" not in log.read_text()


@pytest.mark.usefixtures("no_downloads")
def test_a_session_creates_loads_applies_waits_and_deletes(fake_tools):
    settings, log, _ = fake_tools
    session = start_kind_session(settings)
    assert session.created
    kubeconfig = str(settings.kubeconfig)
    lines = [
        line.replace(kubeconfig, "KUBECONFIG").replace(str(settings.config_file.parent), "REPO")
        for line in log.read_text().splitlines()
    ]
    assert lines == [
        "docker image inspect api:v1",
        "docker image inspect api:v0",
        "kind get clusters",
        "kind get clusters",
        "kind create cluster --name=offgridflow --kubeconfig=KUBECONFIG --config REPO/kind-config.yaml",
        "kind load docker-image --name offgridflow api:v1",
        "kind load docker-image --name offgridflow api:v0",
        "kubectl --kubeconfig KUBECONFIG apply -k REPO/deploy/kubernetes/overlays/kind",
        lines[8],
        lines[9],
        lines[10],
    ]
    assert re.fullmatch(
        r"kubectl --kubeconfig KUBECONFIG rollout status deployment/offgridflow-api -n offgridflow"
        r" --timeout=\d+s",
        lines[8],
    )
    assert re.fullmatch(
        r"kubectl --kubeconfig KUBECONFIG rollout status statefulset/postgres -n offgridflow --timeout=\d+s",
        lines[9],
    )
    assert re.fullmatch(
        r"kubectl --kubeconfig KUBECONFIG wait --for=condition=Available deployment --all --all-namespaces"
        r" --timeout=\d+s",
        lines[10],
    )
    assert session.target(Path(__file__).resolve().parents[2] / "targets.yaml").kubeconfig == kubeconfig
    stop_kind_session(session)
    assert (
        log.read_text().splitlines()[-1]
        == f"kind delete cluster --name=offgridflow --kubeconfig={kubeconfig}"
    )


@pytest.mark.usefixtures("no_downloads")
def test_an_existing_cluster_is_reused_and_never_deleted(fake_tools):
    settings, log, clusters = fake_tools
    clusters.write_text("offgridflow\n")
    assert not settings.keep_cluster
    session = start_kind_session(settings)
    assert not session.created
    commands = log.read_text()
    assert "kind create cluster" not in commands
    assert f"kind export kubeconfig --name offgridflow --kubeconfig {settings.kubeconfig}" in commands
    stop_kind_session(session)
    assert "kind delete" not in log.read_text()


def test_a_failed_rollout_names_the_command(fake_tools, monkeypatch):
    settings, _, _ = fake_tools
    monkeypatch.setenv("FAKE_KUBECTL_EXIT", "1")
    with pytest.raises(RuntimeError, match=r"kubectl apply -k .* failed"):
        start_kind_session(settings)


def test_the_kind_target_names_the_context_kind_creates():
    root = Path(__file__).resolve().parents[2]
    config = root / "kind-config.yaml"
    if not config.is_file():
        pytest.skip(f"{config} not written yet")
    settings_name = kind._read_config(config).get("name") or kind.DEFAULT_CLUSTER_NAME
    target = kind.load_target("kind", root / "targets.yaml")
    assert target.platform == "kubernetes"
    assert target.kube_context == f"kind-{settings_name}"


def test_images_missing_from_docker_stop_the_session_before_any_cluster(fake_tools, monkeypatch):
    settings, log, _ = fake_tools
    monkeypatch.setenv("FAKE_MISSING_IMAGES", "api:v0")
    with pytest.raises(RuntimeError) as caught:
        start_kind_session(settings)
    assert str(caught.value) == (
        "not in the local Docker engine, so kind cannot load them: api:v0 "
        "(build them first, or name others in $OFFGRIDFLOW_KIND_IMAGES)"
    )
    assert "kind create" not in log.read_text()
