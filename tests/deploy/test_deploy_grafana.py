"""The runbook's Grafana dashboard `api-overview` as code, and its provisioning in the kind overlay."""

from __future__ import annotations

import json
from typing import Any

from helpers.deploy_files import KUSTOMIZATIONS, REPO_ROOT, RUNBOOK, find, render
from offgridflow_runbook.probes.prometheus import alert_expression, strip_threshold

GRAFANA = REPO_ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "api-overview.json"


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def panel(title_start: str) -> dict[str, Any]:
    return next(p for p in dashboard()["panels"] if p["title"].startswith(title_start))


def test_the_dashboard_is_the_one_verification_5_links_to() -> None:
    assert "/d/api-overview" in RUNBOOK.read_text(encoding="utf-8")
    assert dashboard()["uid"] == "api-overview"


def test_the_dashboard_has_the_panels_on_call_needs() -> None:
    titles = [p["title"] for p in dashboard()["panels"]]
    for start in ("Error rate", "Request rate", "Latency", "Pod restarts", "Database up"):
        assert any(title.startswith(start) for title in titles), start
    assert all(target["expr"] for p in dashboard()["panels"] for target in p["targets"])


def test_the_error_rate_panel_shows_the_alerts_own_ratio_and_its_limit() -> None:
    ratio, limit = strip_threshold(alert_expression()) or ("", 0.0)
    error_rate = panel("Error rate")
    (expression,) = [target["expr"] for target in error_rate["targets"]]
    # the rule's ratio itself, and 0 where requests were served but none failed (no 5xx series at all)
    assert expression.startswith(f"({ratio}) or on (job) (0 * sum by (job) (rate(http_requests_total{{")
    steps = error_rate["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps[-1] == {"color": "red", "value": limit}


def test_the_kind_overlay_provisions_grafana_with_the_dashboard_and_the_kind_prometheus() -> None:
    objects = render(KUSTOMIZATIONS["kind"])
    pod = find(objects, "Deployment", "grafana", "monitoring")["spec"]["template"]["spec"]
    volumes = {
        volume["name"]: volume["configMap"]["name"] for volume in pod["volumes"] if "configMap" in volume
    }
    dashboards = find(objects, "ConfigMap", volumes["dashboards"], "monitoring")
    assert dashboards["data"] == {"api-overview.json": DASHBOARD.read_text(encoding="utf-8")}
    sources = find(objects, "ConfigMap", volumes["datasources"], "monitoring")["data"]["datasources.yaml"]
    assert "url: http://prometheus.monitoring.svc:9090" in sources
    assert find(objects, "Service", "prometheus", "monitoring")["spec"]["ports"][0]["port"] == 9090
