"""The cluster toolchain's Go modules build their shared libraries at one set of versions.

A cold `make kind-up` compiles Kubernetes first; metrics-server, kube-state-metrics, crictl and etcd
reuse most of those compiled packages from Go's build cache, but only where every version below a
package is the same. So each module under tools/cluster states, in its go.mod's header, either that
it is aligned with tools/cluster/kubernetes (naming any module it keeps at another version) or why it
is not, and these tests hold that statement true as versions are bumped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "cluster"
REFERENCE = "kubernetes"
ALIGNED = re.compile(r"Aligned with tools/cluster/kubernetes(?: except: (?P<except>[^(]*))?")
NOT_ALIGNED = re.compile(r"Not aligned with tools/cluster/kubernetes: \S")


@dataclass(frozen=True)
class GoMod:
    header: str
    versions: dict[str, str]  # module -> the version built (a `replace` to a version wins)


def parse_go_mod(text: str) -> GoMod:
    header = " ".join(
        line.removeprefix("//").strip()
        for line in text.split("\nmodule ", 1)[0].splitlines()
        if line.startswith("//")
    )
    required: dict[str, str] = {}
    replaced: dict[str, str] = {}
    block = ""
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if line.endswith("("):
            block = line[:-1].strip()
            continue
        if line == ")":
            block = ""
            continue
        keyword, fields = (block, line.split()) if block else (line.split()[0], line.split()[1:])
        if keyword == "require" and len(fields) >= 2:
            required[fields[0]] = fields[1]
        elif keyword == "replace" and "=>" in fields:
            arrow = fields.index("=>")
            target = fields[arrow + 1 :]
            if len(target) == 2:  # a module at a version; a local directory has no version
                replaced[fields[0]] = target[1]
    return GoMod(header, {module: replaced.get(module, version) for module, version in required.items()})


def misaligned(tool: GoMod, reference: GoMod) -> dict[str, tuple[str, str]]:
    """Each module both require, at a version other than the reference's: {module: (tool's, reference's)}."""
    return {
        module: (version, reference.versions[module])
        for module, version in tool.versions.items()
        if module in reference.versions and version != reference.versions[module]
    }


def stated_exceptions(header: str) -> set[str] | None:
    """The modules an aligned go.mod keeps at other versions, or None when it states no alignment."""
    found = ALIGNED.search(header)
    if not found:
        return None
    return {name.strip() for name in (found["except"] or "").split(",") if name.strip()}


def modules() -> list[Path]:
    return sorted(path.parent for path in TOOLS.glob("*/go.mod") if path.parent.name != REFERENCE)


@pytest.fixture(scope="module")
def reference() -> GoMod:
    return parse_go_mod((TOOLS / REFERENCE / "go.mod").read_text(encoding="utf-8"))


@pytest.mark.parametrize("module", modules(), ids=lambda path: path.name)
def test_each_toolchain_module_builds_kubernetes_shared_libraries_at_its_versions_or_says_why_not(
    module: Path, reference: GoMod
) -> None:
    tool = parse_go_mod((module / "go.mod").read_text(encoding="utf-8"))
    differing = misaligned(tool, reference)
    exceptions = stated_exceptions(tool.header)
    if exceptions is None:
        if differing:
            assert NOT_ALIGNED.search(tool.header), (
                f"tools/cluster/{module.name}/go.mod builds {len(differing)} modules at other versions "
                f"than tools/cluster/kubernetes (e.g. {sorted(differing.items())[:3]}) and its header "
                "says neither 'Aligned with tools/cluster/kubernetes' nor "
                "'Not aligned with tools/cluster/kubernetes: <why>'"
            )
        return
    assert set(differing) == exceptions, (
        f"tools/cluster/{module.name}/go.mod: at other versions than tools/cluster/kubernetes: "
        f"{ {name: differing[name] for name in sorted(set(differing) - exceptions)} }; "
        f"named as exceptions but aligned: {sorted(exceptions - set(differing))}"
    )


def test_the_modules_that_matter_for_a_cold_build_are_aligned() -> None:
    # The four whose Kubernetes libraries are most of their source: unaligned, each compiles its own
    # copy of client-go and friends (minutes on 2 cores).
    for name in ("metrics-server", "kube-state-metrics", "cri-tools", "etcd"):
        header = parse_go_mod((TOOLS / name / "go.mod").read_text(encoding="utf-8")).header
        assert stated_exceptions(header) is not None, f"tools/cluster/{name}/go.mod is not aligned"


REFERENCE_MOD = """module example/kubernetes
go 1.24
require (
	k8s.io/api v0.34.4 // indirect
	golang.org/x/net v0.38.0 // indirect
)
"""


def test_a_required_version_other_than_kubernetes_is_found() -> None:
    tool = parse_go_mod("// Aligned with tools/cluster/kubernetes.\nmodule t\nrequire k8s.io/api v0.33.2\n")
    assert misaligned(tool, parse_go_mod(REFERENCE_MOD)) == {"k8s.io/api": ("v0.33.2", "v0.34.4")}
    assert stated_exceptions(tool.header) == set()


def test_a_newer_requirement_held_at_kubernetes_version_by_replace_counts_as_aligned() -> None:
    tool = parse_go_mod(
        "module t\nrequire (\n\tgolang.org/x/net v0.40.0\n\tk8s.io/api v0.34.4\n)\n"
        "replace golang.org/x/net => golang.org/x/net v0.38.0\n"
    )
    assert misaligned(tool, parse_go_mod(REFERENCE_MOD)) == {}


def test_named_exceptions_are_read_up_to_their_reason() -> None:
    header = parse_go_mod(
        "// Aligned with tools/cluster/kubernetes except: go.etcd.io/etcd/api/v3,\n"
        "// go.etcd.io/etcd/client/v3 (etcd's own modules).\nmodule t\n"
    ).header
    assert stated_exceptions(header) == {"go.etcd.io/etcd/api/v3", "go.etcd.io/etcd/client/v3"}
    assert stated_exceptions("Not aligned with tools/cluster/kubernetes: too old") is None
