"""The kind session's skip decision and its guarantee that kind and kubectl are never downloaded.

What the session builds and deploys is proven on the real cluster (tests/kind/test_kind_cluster.py);
these are the decisions taken before anything runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pytest_kind.cluster

from offgridflow_runbook.environments import kind
from offgridflow_runbook.environments.kind import (
    NO_KIND_REASON,
    KindSettings,
    KindUnavailable,
    NoDownloadKindCluster,
    find_kind_binary,
    kind_settings,
    kind_up,
    start_kind_session,
)


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    (tmp_path / "kind-config.yaml").write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: offgridflow\n"
        "nodes:\n- role: control-plane\n"
    )
    return tmp_path


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    _executable(directory / "docker")
    return directory


def _environ(bin_dir: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": str(bin_dir), "OFFGRIDFLOW_CLUSTER_CACHE": str(tmp_path / "cache"), **extra}


def test_without_kind_and_without_go_the_reason_is_exact(bin_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(KindUnavailable) as caught:
        find_kind_binary(None, _environ(bin_dir, tmp_path))
    assert str(caught.value) == NO_KIND_REASON


def test_a_kind_binary_in_the_home_of_a_user_this_machine_lacks_is_one_reason(
    bin_dir: Path, tmp_path: Path
) -> None:
    for option, environ in (
        ("~nosuchuser-offgridflow/kind", {}),
        (None, {"KIND_BIN": "~nosuchuser-offgridflow/kind"}),
    ):
        with pytest.raises(KindUnavailable, match=r"~nosuchuser-offgridflow/kind .*: no such user's home"):
            find_kind_binary(option, _environ(bin_dir, tmp_path, **environ))


def test_without_kind_but_with_go_kind_up_builds_ours(bin_dir: Path, tmp_path: Path) -> None:
    _executable(bin_dir / "go")
    assert find_kind_binary(None, _environ(bin_dir, tmp_path)) is None


def test_kind_is_taken_from_the_option_then_the_environment_then_our_build_then_path(
    bin_dir: Path, tmp_path: Path
) -> None:
    on_path = _executable(bin_dir / "kind")
    ours = tmp_path / "cache" / "bin" / "kind"
    ours.parent.mkdir(parents=True)
    _executable(ours)
    from_env = _executable(tmp_path / "kind-env")
    from_option = _executable(tmp_path / "kind-option")
    environ = _environ(bin_dir, tmp_path, KIND_BIN=str(from_env))
    assert find_kind_binary(str(from_option), environ) == from_option
    assert find_kind_binary(None, environ) == from_env
    assert find_kind_binary(None, _environ(bin_dir, tmp_path)) == ours
    ours.unlink()
    assert find_kind_binary(None, _environ(bin_dir, tmp_path)) == on_path


def test_a_named_kind_that_does_not_exist_is_not_looked_up_elsewhere(bin_dir: Path, tmp_path: Path) -> None:
    _executable(bin_dir / "kind")
    with pytest.raises(KindUnavailable, match=r"kind binary .*/missing \(from --kind-bin\) does not exist"):
        find_kind_binary(str(tmp_path / "missing"), _environ(bin_dir, tmp_path))


def test_without_docker_the_session_skips_with_the_reason(repository: Path, tmp_path: Path) -> None:
    with pytest.raises(KindUnavailable, match="docker not found"):
        kind_settings(
            kind_bin_option=None, keep_cluster=False, root=repository, environ={"PATH": str(tmp_path)}
        )


def test_settings_default_to_the_offline_node_image_and_honour_kind_node_image(
    repository: Path, bin_dir: Path, tmp_path: Path
) -> None:
    _executable(bin_dir / "kind")
    settings = kind_settings(
        kind_bin_option=None, keep_cluster=True, root=repository, environ=_environ(bin_dir, tmp_path)
    )
    assert settings.cluster_name == "offgridflow"
    assert settings.kubeconfig == repository / ".state" / "kind" / "offgridflow.kubeconfig"
    assert settings.node_image is None
    assert settings.keep_cluster
    upstream = kind_settings(
        kind_bin_option=None,
        keep_cluster=False,
        root=repository,
        environ=_environ(bin_dir, tmp_path, KIND_NODE_IMAGE="kindest/node:v1.34.0"),
    )
    assert upstream.node_image == "kindest/node:v1.34.0"


def _settings(root: Path, kind_bin: Path | None) -> KindSettings:
    return KindSettings(
        root=root,
        kind_bin=kind_bin,
        kubectl_bin=None,
        cluster_name="offgridflow",
        config_file=root / "kind-config.yaml",
        kubeconfig=root / ".state" / "kind" / "offgridflow.kubeconfig",
        node_image=None,
    )


def test_a_failing_kind_up_raises_with_its_error_line_and_shows_its_progress(repository: Path) -> None:
    scripts = repository / "scripts"
    scripts.mkdir()
    (scripts / "kind-up.sh").write_text(
        'echo "[kind-up +0s] building"\necho "error: the Docker Engine does not answer" >&2\nexit 2\n'
    )
    shown: list[str] = []
    with pytest.raises(RuntimeError) as caught:
        kind_up(_settings(repository, None), say=shown.append)
    assert str(caught.value) == "make kind-up failed (exit 2): error: the Docker Engine does not answer"
    assert shown == ["[kind-up +0s] building", "error: the Docker Engine does not answer"]


def test_kind_up_gets_the_sessions_kubeconfig_and_binaries(repository: Path, tmp_path: Path) -> None:
    scripts = repository / "scripts"
    scripts.mkdir()
    (scripts / "kind-up.sh").write_text('echo "$KUBECONFIG_OUT|$KIND|${KIND_NODE_IMAGE:-offline}"\n')
    kind_bin = _executable(tmp_path / "kind")
    shown: list[str] = []
    kind_up(_settings(repository, kind_bin), say=shown.append)
    assert shown == [f"{repository}/.state/kind/offgridflow.kubeconfig|{kind_bin}|offline"]


@pytest.fixture
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if pytest-kind's download code path is ever reached."""

    def forbidden(*args: object, **kwargs: object) -> None:
        pytest.fail(f"pytest-kind tried to download: {args}")

    monkeypatch.setattr(pytest_kind.cluster.requests, "get", forbidden)


@pytest.mark.usefixtures("no_downloads")
def test_the_cluster_never_downloads_a_missing_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    kubeconfig = tmp_path / ".state" / "kind" / "offgridflow.kubeconfig"
    cluster = NoDownloadKindCluster("offgridflow", kubeconfig, tmp_path / "no-kind", tmp_path / "no-kubectl")
    with pytest.raises(KindUnavailable, match="is missing; it is never downloaded"):
        cluster.create(tmp_path / "kind-config.yaml")
    with pytest.raises(KindUnavailable, match=r"kubectl binary .* is missing; it is never downloaded"):
        cluster.kubectl("version")
    assert not (tmp_path / ".pytest-kind").exists()  # pytest-kind's own directory is never made
    assert kubeconfig.parent.is_dir()


@pytest.mark.usefixtures("no_downloads")
def test_a_session_whose_kind_up_fails_leaves_no_session(repository: Path, tmp_path: Path) -> None:
    scripts = repository / "scripts"
    scripts.mkdir()
    (scripts / "kind-up.sh").write_text('echo "error: kind create cluster failed" >&2\nexit 2\n')
    with pytest.raises(RuntimeError, match="kind create cluster failed"):
        start_kind_session(_settings(repository, None), say=lambda _line: None)


def test_pytest_kinds_own_plugin_and_downloading_fixture_are_off(
    request: pytest.FixtureRequest, pytestconfig: pytest.Config
) -> None:
    assert pytestconfig.pluginmanager.get_plugin("pytest-kind") is None
    with pytest.raises(pytest.FixtureLookupError):
        request.getfixturevalue("kind_cluster")


def test_the_kind_target_names_the_context_kind_creates() -> None:
    root = Path(__file__).resolve().parents[2]
    name = kind._read_config(root / "kind-config.yaml").get("name") or kind.DEFAULT_CLUSTER_NAME
    target = kind.load_target("kind", root / "targets.yaml")
    assert target.platform == "kubernetes"
    assert target.kube_context == f"kind-{name}"


def test_a_kind_up_that_keeps_printing_is_stopped_at_its_timeout(repository: Path, tmp_path: Path) -> None:
    # The old wait() ran only after the output ended: a script that prints forever was never stopped.
    pid_file = tmp_path / "pids"
    scripts = repository / "scripts"
    scripts.mkdir()
    (scripts / "kind-up.sh").write_text(
        f'sleep 300 & echo "$$ $!" > {pid_file}\n'
        'while :; do echo "[kind-up] still building"; sleep 0.1; done\n'
    )
    shown: list[str] = []
    started = time.monotonic()
    with pytest.raises(
        kind.KindUpTimeout, match=r"did not finish within 1 s and was stopped: \[kind-up\] still"
    ):
        kind_up(_settings(repository, None), say=shown.append, timeout=1.0)
    assert time.monotonic() - started < 10
    assert shown[0] == "[kind-up] still building"
    # the script and what it started (its process group) are gone: no process, or a zombie whose
    # parent (init, once the script died) has not reaped it yet
    for pid in pid_file.read_text().split():
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] == "Z", pid


def test_a_kind_up_that_prints_nothing_is_stopped_at_its_timeout(repository: Path) -> None:
    scripts = repository / "scripts"
    scripts.mkdir()
    (scripts / "kind-up.sh").write_text("exec sleep 300\n")
    with pytest.raises(kind.KindUpTimeout, match=r"within 0\.5 s and was stopped: no output"):
        kind_up(_settings(repository, None), say=lambda _line: None, timeout=0.5)
