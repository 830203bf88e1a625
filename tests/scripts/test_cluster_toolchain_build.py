"""tools/cluster/build.sh: each binary built once even when two runs overlap, in the group asked for,
and Prometheus built with its `_overlay/` applied to a copy of its module.

`make test` starts one toolchain run early and the kind tier's kind-up starts another: the second
must wait for what the first is building, not build it again beside it (2 cores). The `go` here is a
stand-in that records its calls, takes a moment per build (so that the runs overlap) and writes a
placeholder binary.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers.shell_scripts import GO_BUILD_WRITES_PLACEHOLDERS, SCRIPT_TIMEOUT_SECONDS, run_script, write_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "tools" / "cluster" / "build.sh"
COMMANDS_LINE = re.compile(r"^commands=\((?P<names>.*)\)$", re.MULTILINE)
KUBERNETES_SCRIPT = (SCRIPT.parent / "build-kubernetes.sh").read_text(encoding="utf-8")
KUBERNETES_BINARIES = set(next(COMMANDS_LINE.finditer(KUBERNETES_SCRIPT))["names"].split())
NODE_BINARIES = {"coredns", "kind", "etcd", "crictl", "pause", "offgridflow-runc"} | KUBERNETES_BINARIES
MONITORING_BINARIES = {"prometheus", "metrics-server", "kube-state-metrics"}
FAKE_GO = (
    """#!/bin/sh
echo "$*" >> "$CALLS"
case "$1" in
  version) echo "go version go1.26.0 linux/amd64" ;;
  env) echo go1.26.0 ;;
  list)
    case "$*" in
      *k8s.io/kubernetes*) echo v1.34.4 ;;
      *) echo v0.54.1 ;;
    esac ;;
  mod) printf '{\\n\\t"Path": "x",\\n\\t"Dir": "%s",\\n\\t"Sum": "h1:x"\\n}\\n' "$MODULE_DIR" ;;
  build)
    sleep 0.3
"""
    + GO_BUILD_WRITES_PLACEHOLDERS
    + """esac
"""
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    write_tool(tmp_path / "fake" / "go", FAKE_GO)
    module = tmp_path / "module"
    (module / "plugins").mkdir(parents=True)
    (module / "plugins" / "plugins.go").write_text("package plugins // every discovery\n")
    (module / "plugins" / "minimum.go").write_text("package plugins\n")
    (module / "core" / "plugin").mkdir(parents=True)  # CoreDNS's: one stand-in module serves both
    (module / "core" / "plugin" / "zplugin.go").write_text("package plugin // every plugin\n")
    (tmp_path / "calls.txt").write_text("")
    return {
        "PATH": f"{tmp_path / 'fake'}:/usr/bin:/bin",
        "OFFGRIDFLOW_CLUSTER_CACHE": str(tmp_path / "cache"),
        "OFFGRIDFLOW_GO_CANDIDATES": "",
        "CALLS": str(tmp_path / "calls.txt"),
        "MODULE_DIR": str(module),
    }


def builds(env: dict[str, str]) -> list[list[str]]:
    """Every `go build` the runs so far made, as its arguments."""
    return [line.split() for line in Path(env["CALLS"]).read_text().splitlines() if line.startswith("build ")]


def built_binaries(env: dict[str, str]) -> list[str]:
    """The binaries the `go build`s wrote: each -o file (a build in progress writes <name>.new), or
    with -o a folder, one per package named (the Kubernetes binaries are built by one go build)."""
    names = []
    for args in builds(env):
        out = args[args.index("-o") + 1]
        if out.endswith("/"):
            names += [arg.rsplit("/", 1)[1] for arg in args if arg.startswith("k8s.io/kubernetes/cmd/")]
        else:
            names.append(Path(out).name.removesuffix(".new"))
    return names


def test_the_node_group_builds_the_node_binaries_only(env: dict[str, str]) -> None:
    result = run_script(SCRIPT, env, "node")

    assert result.returncode == 0, result.stderr
    assert sorted(built_binaries(env)) == sorted(NODE_BINARIES)


def test_the_monitoring_group_builds_the_monitoring_binaries_only(env: dict[str, str]) -> None:
    result = run_script(SCRIPT, env, "monitoring")

    assert result.returncode == 0, result.stderr
    assert sorted(built_binaries(env)) == sorted(MONITORING_BINARIES)


def test_all_builds_the_node_first_then_monitoring_and_a_second_run_builds_nothing(
    env: dict[str, str],
) -> None:
    assert run_script(SCRIPT, env).returncode == 0
    order = built_binaries(env)
    assert set(order) == NODE_BINARIES | MONITORING_BINARIES
    assert max(order.index(b) for b in NODE_BINARIES) < min(order.index(b) for b in MONITORING_BINARIES)

    second = run_script(SCRIPT, env)

    assert second.returncode == 0, second.stderr
    assert built_binaries(env) == order


def test_two_runs_at_once_build_each_binary_once_and_the_later_one_says_it_waits(env: dict[str, str]) -> None:
    first = subprocess.Popen(["bash", str(SCRIPT), "node"], env=env, stdout=subprocess.PIPE, text=True)
    second = subprocess.Popen(["bash", str(SCRIPT), "node"], env=env, stdout=subprocess.PIPE, text=True)
    outputs = [process.communicate(timeout=SCRIPT_TIMEOUT_SECONDS)[0] for process in (first, second)]

    assert [first.returncode, second.returncode] == [0, 0]
    assert sorted(built_binaries(env)) == sorted(NODE_BINARIES)
    assert "another build of it is under way" in "".join(outputs)


# each module with an _overlay/: its group, the package built, the module patched and the file replaced
OVERLAID = [
    ("prometheus", "monitoring", "github.com/prometheus/prometheus/cmd/prometheus",
     "github.com/prometheus/prometheus", "plugins/plugins.go"),
    ("coredns", "node", "github.com/coredns/coredns", "github.com/coredns/coredns", "core/plugin/zplugin.go"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "group", "package", "module", "replaced_file"), OVERLAID, ids=[row[0] for row in OVERLAID]
)
def test_a_module_is_built_with_its_overlay_on_a_copy_of_the_module_it_patches(
    env: dict[str, str], name: str, group: str, package: str, module: str, replaced_file: str
) -> None:
    as_downloaded = (Path(env["MODULE_DIR"]) / replaced_file).read_text()
    result = run_script(SCRIPT, env, group)

    assert result.returncode == 0, result.stderr
    [build] = [args for args in builds(env) if args[-1] == package]
    modfile = Path(next(a for a in build if a.startswith("-modfile=")).split("=", 1)[1])
    overlay = Path(next(a for a in build if a.startswith("-overlay=")).split("=", 1)[1])
    copy = Path(env["OFFGRIDFLOW_CLUSTER_CACHE"]) / "src" / f"{module.replace('/', '_')}@v0.54.1"
    assert f"replace {module} => {copy}" in modfile.read_text()
    replaced = json.loads(overlay.read_text())["Replace"]
    ours = REPO_ROOT / "tools" / "cluster" / name / "_overlay" / replaced_file
    assert replaced == {str(copy / replaced_file): str(ours)}
    # the copy is the module as downloaded: the overlay replaces a file at build time, never in place
    assert (copy / replaced_file).read_text() == as_downloaded


def test_an_overlay_file_the_module_lacks_stops_the_build_with_one_line(env: dict[str, str]) -> None:
    (Path(env["MODULE_DIR"]) / "plugins" / "plugins.go").unlink()

    result = run_script(SCRIPT, env, "monitoring")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: tools/cluster/prometheus/_overlay/plugins/plugins.go replaces a file that "
        "github.com/prometheus/prometheus@v0.54.1 does not have"
    )
    assert "prometheus" not in built_binaries(env)


def test_an_unknown_group_is_one_line_and_exit_64(env: dict[str, str]) -> None:
    result = run_script(SCRIPT, env, "everything")

    assert result.returncode == 64
    assert result.stderr.strip() == "error: build.sh takes all, node or monitoring, not 'everything'"
    assert builds(env) == []
