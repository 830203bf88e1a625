"""The Prometheus that tools/cluster builds registers only the service discoveries its `_overlay/`
names (plus file_sd and http_sd, which upstream's plugins/minimum.go always registers). Every
`*_sd_configs` that a Prometheus config of the Kubernetes overlays uses must be one of them: a config
naming another would make that Prometheus refuse to start (`field consul_sd_configs not found`) on
the offline cluster only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
OVERLAY = REPO_ROOT / "tools" / "cluster" / "prometheus" / "_overlay" / "plugins" / "plugins.go"
KUBERNETES_DEPLOY = REPO_ROOT / "deploy" / "kubernetes"
ALWAYS_REGISTERED = {"file", "http"}  # plugins/minimum.go of Prometheus v2.54.1
DISCOVERY_IMPORT = re.compile(r'_ "github\.com/prometheus/prometheus/discovery/(?P<name>[a-z0-9]+)"')


def registered_discoveries() -> set[str]:
    imported = {m["name"] for m in DISCOVERY_IMPORT.finditer(OVERLAY.read_text(encoding="utf-8"))}
    return imported | ALWAYS_REGISTERED


def discoveries_used(config: Any) -> Iterator[str]:
    """Every `<name>_sd_configs` key anywhere in a Prometheus config, as <name>."""
    if isinstance(config, dict):
        for key, value in config.items():
            if isinstance(key, str) and key.endswith("_sd_configs"):
                yield key.removesuffix("_sd_configs")
            yield from discoveries_used(value)
    elif isinstance(config, list):
        for item in config:
            yield from discoveries_used(item)


def unregistered(config: Any) -> set[str]:
    return set(discoveries_used(config)) - registered_discoveries()


def prometheus_configs() -> list[Path]:
    return sorted(
        path
        for path in KUBERNETES_DEPLOY.rglob("*.yml")
        if "scrape_configs" in (yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    )


def test_the_overlay_registers_the_kubernetes_discovery() -> None:
    assert "kubernetes" in registered_discoveries()


def test_there_is_a_prometheus_config_to_hold_to_the_overlay() -> None:
    assert prometheus_configs(), f"no .yml with scrape_configs under {KUBERNETES_DEPLOY}"


@pytest.mark.parametrize("path", prometheus_configs(), ids=lambda p: str(p.relative_to(KUBERNETES_DEPLOY)))
def test_every_discovery_a_kubernetes_prometheus_config_uses_is_built_in(path: Path) -> None:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))

    assert set(discoveries_used(config)), f"{path} discovers no target: this test would hold nothing"
    overlay = OVERLAY.relative_to(REPO_ROOT)
    assert unregistered(config) == set(), f"add them to {overlay} or use another discovery"


def test_a_config_with_a_discovery_the_overlay_leaves_out_is_caught() -> None:
    config = {
        "scrape_configs": [
            {"job_name": "a", "kubernetes_sd_configs": [{"role": "pod"}]},
            {"job_name": "b", "consul_sd_configs": [{"server": "consul:8500"}], "file_sd_configs": []},
        ],
        "alerting": {"alertmanagers": [{"dns_sd_configs": [{"names": ["am"]}]}]},
    }

    assert unregistered(config) == {"consul", "dns"}


# -- CoreDNS ---------------------------------------------------------------------------------------------
COREDNS_OVERLAY = REPO_ROOT / "tools" / "cluster" / "coredns" / "_overlay" / "core" / "plugin" / "zplugin.go"
COREDNS_PLUGIN_IMPORT = re.compile(r'_ "github\.com/coredns/coredns/plugin/(?P<name>\w+)"')
# kubeadm v1.34's Corefile, by the plugin package each directive is in (`prometheus` is the metrics
# plugin); the kind tier checks the running cluster's Corefile against the running binary too
KUBEADM_COREFILE_PLUGINS = {
    "errors", "health", "ready", "kubernetes", "metrics", "forward", "cache", "loop", "reload", "loadbalance",
}  # fmt: skip


def test_coredns_is_built_with_every_plugin_kubeadms_corefile_names() -> None:
    built = {m["name"] for m in COREDNS_PLUGIN_IMPORT.finditer(COREDNS_OVERLAY.read_text(encoding="utf-8"))}
    assert KUBEADM_COREFILE_PLUGINS - built == set()
    assert {"azure", "clouddns", "route53", "etcd", "grpc", "trace"} & built == set()
