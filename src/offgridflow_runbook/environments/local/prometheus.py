"""The fast profile: the repository's alert rules and Alertmanager routes, rendered for a local game day.

Scrape and evaluation run every second and each rule's ``for`` is scaled down to a few seconds, so a
game day sees alerts fire within seconds. The profile is written next to the rendered files
(``profile.json``) and as Prometheus' external label ``profile`` so the scorecard can name it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from offgridflow_runbook.alerting import drop_integrations_without_secrets, fast_route
from offgridflow_runbook.alerting.profiles import PROFILES, fast_rules
from offgridflow_runbook.platforms.docker.names import alertmanager_secrets_dir, state_dir
from offgridflow_runbook.project import project_root

# Used only while deploy/prometheus has no rules yet, so the stack still has an API-down alert.
_PLACEHOLDER_RULES: dict[str, Any] = {
    "groups": [
        {
            "name": "offgridflow-placeholder",
            "rules": [
                {
                    "alert": "OffGridFlowAPIDown",
                    "expr": 'up{job="offgridflow-api"} == 0',
                    "for": "1m",
                    "labels": {"severity": "critical"},
                },
                {
                    "alert": "PostgreSQLDown",
                    "expr": 'pg_up == 0 or up{job="postgres"} == 0',
                    "for": "1m",
                    "labels": {"severity": "critical"},
                },
            ],
        }
    ]
}


def _rule_files() -> list[Path]:
    folder = project_root() / "deploy" / "prometheus" / "rules"
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")]) if folder.is_dir() else []


def _render_rules(profile: str, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for stale in into.glob("*.yml"):
        stale.unlink()
    sources = {path.name: yaml.safe_load(path.read_text(encoding="utf-8")) for path in _rule_files()}
    if not sources:
        sources = {"placeholder.rules.yml": _PLACEHOLDER_RULES}
    for name, document in sources.items():
        if profile == "fast":
            fast_rules(document)
        (into / Path(name).with_suffix(".yml").name).write_text(yaml.safe_dump(document), encoding="utf-8")


def _prometheus_config(profile: str) -> dict[str, Any]:
    interval = "1s" if profile == "fast" else "15s"
    return {
        "global": {
            "scrape_interval": interval,
            "evaluation_interval": interval,
            "scrape_timeout": "1s" if profile == "fast" else "10s",
            "external_labels": {"profile": profile, "environment": "local"},
        },
        "rule_files": ["/etc/offgridflow/prometheus/rules/*.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]},
        "scrape_configs": [
            {"job_name": "offgridflow-api", "static_configs": [{"targets": ["127.0.0.1:8081"]}]},
            {"job_name": "postgres", "static_configs": [{"targets": ["127.0.0.1:9187"]}]},
            {"job_name": "prometheus", "static_configs": [{"targets": ["127.0.0.1:9090"]}]},
            # The containers' restart counts as kube-state-metrics names them (PodCrashLooping).
            {"job_name": "container-restarts", "static_configs": [{"targets": ["127.0.0.1:9096"]}]},
            # The synthetic monitor (OffGridFlowSyntheticCheckFailing).
            {"job_name": "synthetic-monitor", "static_configs": [{"targets": ["127.0.0.1:9097"]}]},
        ],
    }


def _alertmanager_config(profile: str) -> dict[str, Any]:
    webhook = {"url": "http://127.0.0.1:9095/alerts", "send_resolved": True}
    source = project_root() / "deploy" / "prometheus" / "alertmanager.yml"
    if source.exists():
        document: dict[str, Any] = yaml.safe_load(source.read_text(encoding="utf-8"))
        # Every webhook goes to the local receiver, whatever address the repository's file names.
        for receiver in document.get("receivers", []):
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = webhook["url"]
        drop_integrations_without_secrets(document, alertmanager_secrets_dir())
    else:
        document = {
            "route": {
                "receiver": "null",
                "routes": [{"receiver": "critical", "matchers": ['severity="critical"']}],
            },
            "receivers": [{"name": "null"}, {"name": "critical", "webhook_configs": [webhook]}],
        }
    if profile == "fast":
        fast_route(document)
    return document


def render(profile: str) -> Path:
    """Write ``.state/prometheus`` (config, rules, alertmanager.yml, profile.json); returns that folder."""
    if profile not in PROFILES:
        raise ValueError(f"unknown Prometheus profile {profile!r}; choose one of {', '.join(PROFILES)}")
    folder = state_dir() / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    _render_rules(profile, folder / "rules")
    (folder / "prometheus.yml").write_text(yaml.safe_dump(_prometheus_config(profile)), encoding="utf-8")
    (folder / "alertmanager.yml").write_text(yaml.safe_dump(_alertmanager_config(profile)), encoding="utf-8")
    (folder / "profile.json").write_text(json.dumps({"profile": profile}), encoding="utf-8")
    return folder


def rendered_digest(folder: Path) -> str:
    """Changes whenever a rendered file changes, so the containers mounting them are recreated."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]
