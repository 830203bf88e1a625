"""The alert profiles and the kind overlay that carries the fast one (kustomize renders it for real)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from offgridflow_runbook.alerting.profiles import (
    MONITOR_DEPLOYMENT,
    MONITOR_EVERY,
    MONITOR_RULE_GROUP,
    fast_expression,
    fast_for,
    fast_hold,
    fast_monitor_for,
    fast_rules,
    fast_window,
    prometheus_flags,
    render_kind_overlay,
    seconds,
)

ROOT = Path(__file__).resolve().parents[2]
KIND_BASE = ROOT / "deploy" / "kubernetes" / "overlays" / "kind"


@pytest.mark.parametrize(("production", "fast"), [("30s", "3s"), ("1m", "3s"), ("5m", "10s"), ("2h", "15s")])
def test_fast_profile_scales_for_into_a_few_seconds(production: str, fast: str):
    assert fast_for(production) == fast


SYNTHETIC_RULES = ROOT / "deploy" / "prometheus" / "rules" / "offgridflow-synthetic.rules.yml"


def test_the_monitors_page_waits_for_as_many_fast_runs_as_production_runs() -> None:
    document = yaml.safe_load(SYNTHETIC_RULES.read_text(encoding="utf-8"))
    (group,) = document["groups"]
    assert group["name"] == MONITOR_RULE_GROUP
    production = {rule["alert"]: rule["for"] for rule in group["rules"]}
    fast_rules(document)
    fast = {rule["alert"]: rule["for"] for rule in document["groups"][0]["rules"]}
    for alert, production_for in production.items():
        runs = seconds(production_for) / seconds(MONITOR_EVERY["production"])
        assert seconds(fast[alert]) / seconds(MONITOR_EVERY["fast"]) == runs, (alert, fast[alert])
        # more than one run: a single failed run is a blip in both profiles
        assert seconds(fast[alert]) > seconds(MONITOR_EVERY["fast"])


@pytest.mark.parametrize(("production", "fast"), [("2m", "10s"), ("5m", "25s"), ("60s", "5s")])
def test_the_monitors_for_scales_with_its_interval(production: str, fast: str) -> None:
    assert fast_monitor_for(production) == fast


def test_the_other_rules_keep_the_thirtieth() -> None:
    rule = {"alert": "A", "for": "2m", "expr": "up == 0"}
    document = {"groups": [{"name": "offgridflow", "rules": [rule]}]}
    fast_rules(document)
    assert document["groups"][0]["rules"][0]["for"] == fast_for("2m") == "4s"


def kustomize(folder: Path) -> list[dict]:
    kubectl = shutil.which("kubectl") or "/var/cache/offgridflow-cluster/bin/kubectl"
    if not Path(kubectl).exists():
        pytest.skip("no kubectl (make kind-up builds one into /var/cache/offgridflow-cluster)")
    rendered = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=True)
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


def config_map(objects: list[dict], prefix: str) -> dict:
    found = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(prefix + "-")
    ]
    assert len(found) == 1, [o["metadata"]["name"] for o in found]
    return found[0]


def test_the_fast_kind_overlay_swaps_the_monitoring_config_and_keeps_everything_else(tmp_path: Path):
    render_kind_overlay("fast", base=KIND_BASE, into=tmp_path / "overlay", root=ROOT)
    fast = kustomize(tmp_path / "overlay")
    production = kustomize(KIND_BASE)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in fast if o["kind"] != "ConfigMap") == sorted(
        (o["kind"], o["metadata"]["name"]) for o in production if o["kind"] != "ConfigMap"
    )
    rules = yaml.safe_load(config_map(fast, "prometheus-rules")["data"]["offgridflow.rules.yml"])
    down = next(r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "OffGridFlowAPIDown")
    assert down["for"] == "3s"
    assert {g["interval"] for g in rules["groups"]} == {"2s"}
    prometheus = yaml.safe_load(config_map(fast, "prometheus-config")["data"]["prometheus.yml"])
    assert prometheus["global"]["scrape_interval"] == "2s"
    assert prometheus["global"]["external_labels"]["profile"] == "fast"
    alertmanager = yaml.safe_load(config_map(fast, "alertmanager-config")["data"]["alertmanager.yml"])
    assert alertmanager["route"]["group_wait"] == "1s"
    # the Deployments mount the renamed (hash-suffixed) ConfigMaps, so applying it rolls them out
    names = {o["metadata"]["name"] for o in fast if o["kind"] == "ConfigMap"}
    mounted = {
        volume["configMap"]["name"]
        for o in fast
        if o["kind"] == "Deployment" and o["metadata"].get("namespace") == "monitoring"
        for volume in o["spec"]["template"]["spec"].get("volumes", [])
        if "configMap" in volume
    }
    assert {
        config_map(fast, p)["metadata"]["name"] for p in ("prometheus-rules", "alertmanager-config")
    } <= mounted
    assert mounted <= names


def monitor_args(objects: list[dict]) -> list[str]:
    """The synthetic monitor's container's args, as rendered."""
    deployment = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == MONITOR_DEPLOYMENT
    )
    return [str(a) for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"]]


def monitor_every(objects: list[dict]) -> str:
    args = monitor_args(objects)
    return args[args.index("--every") + 1]


def test_the_fast_kind_overlay_runs_the_synthetic_monitor_at_the_fast_interval_and_keeps_its_other_args(
    tmp_path: Path,
):
    render_kind_overlay("fast", base=KIND_BASE, into=tmp_path / "overlay", root=ROOT)
    fast, production = kustomize(tmp_path / "overlay"), kustomize(KIND_BASE)
    assert (monitor_every(fast), monitor_every(production)) == (
        MONITOR_EVERY["fast"],
        MONITOR_EVERY["production"],
    )
    others = [[a for a in monitor_args(o) if a not in MONITOR_EVERY.values()] for o in (fast, production)]
    assert others[0] == others[1]


def test_the_production_kind_overlay_renders_the_base_unchanged(tmp_path: Path):
    render_kind_overlay("production", base=KIND_BASE, into=tmp_path / "overlay", root=ROOT)
    assert kustomize(tmp_path / "overlay") == kustomize(KIND_BASE)


def test_an_unknown_profile_is_refused_with_the_choices(tmp_path: Path):
    with pytest.raises(ValueError, match="fast, production"):
        render_kind_overlay("slow", base=KIND_BASE, into=tmp_path, root=ROOT)


def test_the_fast_profile_scales_rate_windows_but_keeps_increase_windows() -> None:
    expression = "sum(rate(errors_total[5m])) / sum(rate(requests_total{path!~'/h/.*'}[5m])) > 0.01"
    assert fast_expression(expression) == (
        "sum(rate(errors_total[15s])) / sum(rate(requests_total{path!~'/h/.*'}[15s])) > 0.01"
    )
    # increase() counts events (restarts): a shorter span would change what the alert means
    restarts = "increase(kube_pod_container_status_restarts_total[10m]) > 2"
    assert fast_expression(restarts) == restarts


def test_the_fast_profile_scales_a_hold_like_a_for() -> None:
    """PodCrashLooping ends once a container has been ready for a minute: in the fast profile for
    6 s, so a recovered part is quiet again within seconds, as its `for` would have it."""
    hold = "x > 2 unless on (pod) min_over_time(kube_pod_container_status_ready[1m]) == 1"
    assert fast_expression(hold) == hold.replace("[1m]", "[6s]")
    assert fast_expression("max_over_time(up[10m]) == 0") == "max_over_time(up[20s]) == 0"
    document = yaml.safe_load((ROOT / "deploy/prometheus/rules/offgridflow.rules.yml").read_text())
    fast_rules(document)
    (rule,) = [r for g in document["groups"] for r in g["rules"] if r.get("alert") == "PodCrashLooping"]
    assert 'min_over_time(kube_pod_container_status_ready{namespace="offgridflow"}[6s])' in rule["expr"]
    assert "[10m]" in rule["expr"]  # its restarts are still counted over 10 minutes


@pytest.mark.parametrize(("production", "fast"), [("1m", "6s"), ("3m", "6s"), ("4m", "8s"), ("10m", "20s")])
def test_a_fast_hold_is_a_thirtieth_and_never_below_6_seconds(production: str, fast: str) -> None:
    assert fast_hold(production) == fast


def test_a_hold_and_a_rate_in_one_expression_each_get_their_own_floor() -> None:
    expression = "rate(x_total[1m]) > 0 unless min_over_time(ready[1m]) == 1"
    assert fast_expression(expression) == "rate(x_total[15s]) > 0 unless min_over_time(ready[6s]) == 1"


@pytest.mark.parametrize(("production", "fast"), [("5m", "15s"), ("30m", "60s"), ("1m", "15s")])
def test_a_fast_rate_window_is_a_thirtieth_and_never_below_15_seconds(production: str, fast: str) -> None:
    assert fast_window(production) == fast


def test_the_fast_rules_shrink_the_error_rate_alerts_window_with_its_for() -> None:
    document = yaml.safe_load((ROOT / "deploy/prometheus/rules/offgridflow.rules.yml").read_text())
    fast_rules(document)
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    (rule,) = [r for r in rules if r.get("alert") == "OffGridFlowAPIHighErrorRate"]
    assert "[5m]" not in rule["expr"]
    assert rule["expr"].count("[15s]") == 2


def prometheus_args(objects: list[dict]) -> list[str]:
    """kind's Prometheus container's args, as rendered."""
    (deployment,) = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "prometheus"
    ]
    containers = deployment["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == "prometheus"]
    return [str(a) for a in container["args"]]


def test_the_fast_kind_overlay_runs_prometheus_with_the_fast_lookback_after_its_own_args(tmp_path: Path):
    render_kind_overlay("fast", base=KIND_BASE, into=tmp_path / "fast", root=ROOT)
    render_kind_overlay("production", base=KIND_BASE, into=tmp_path / "production", root=ROOT)
    base = prometheus_args(kustomize(KIND_BASE))
    assert prometheus_flags("production") == []
    assert prometheus_args(kustomize(tmp_path / "production")) == base
    assert prometheus_args(kustomize(tmp_path / "fast")) == [*base, *prometheus_flags("fast")]
    assert prometheus_flags("fast") == ["--query.lookback-delta=30s"]
