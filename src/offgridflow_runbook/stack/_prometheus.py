"""The fast profile: the repository's alert rules and Alertmanager routes, rendered for a local game day.

Scrape and evaluation run every second and each rule's ``for`` is scaled down to a few seconds, so a
game day sees alerts fire within seconds. The profile is written next to the rendered files
(``profile.json``) and as Prometheus' external label ``profile`` so the scorecard can name it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from offgridflow_runbook.stack._layout import project_root, state_dir

PROFILES = ("fast", "production")
_FAST_FOR_DIVISOR = 30
_FAST_FOR_BOUNDS = (3, 15)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")

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


def seconds(duration: str) -> float:
    """A Prometheus duration (``1m30s``) in seconds."""
    return sum(int(amount) * _UNITS[unit] for amount, unit in _DURATION.findall(duration))


def fast_for(duration: str) -> str:
    low, high = _FAST_FOR_BOUNDS
    return f"{round(min(max(seconds(duration) / _FAST_FOR_DIVISOR, low), high))}s"


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
            for group in document.get("groups", []):
                group["interval"] = "1s"
                for rule in group.get("rules", []):
                    if "for" in rule:
                        rule["for"] = fast_for(str(rule["for"]))
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
        ],
    }


# Where Alertmanager reads the outside services' keys (PagerDuty routing keys, the Slack webhook URL):
# the repository's alertmanager.yml names files under this folder (``routing_key_file``, ``api_url_file``).
SECRETS_MOUNT = "/etc/alertmanager-secrets"
_SECRET_FILE_KEYS = ("routing_key_file", "api_url_file", "service_key_file")


def alertmanager_secrets_dir() -> Path:
    """``.state/alertmanager-secrets``: put ``pagerduty-primary-routing-key``,
    ``pagerduty-secondary-routing-key`` or ``slack-webhook-url`` here (readable by ``nobody``, the user
    Alertmanager runs as) and run ``make up`` to enable them."""
    return state_dir() / "alertmanager-secrets"


def drop_integrations_without_secrets(document: dict[str, Any], secrets: Path) -> list[str]:
    """Remove each PagerDuty/Slack integration whose key file is not in ``secrets``; what was dropped.

    Alertmanager loads a configuration whose key files are missing and only fails at every send, so an
    integration without its secret is left out instead: the receiver keeps its other integrations."""
    dropped = []
    for receiver in document.get("receivers", []):
        for kind in [key for key in receiver if key.endswith("_configs") and key != "webhook_configs"]:
            kept = []
            for integration in receiver[kind]:
                files = [str(integration[key]) for key in _SECRET_FILE_KEYS if key in integration]
                present = all((secrets / Path(file).relative_to(SECRETS_MOUNT)).is_file() for file in files)
                if files and not present:
                    dropped.append(f"{receiver['name']}: {kind.removesuffix('_configs')}")
                else:
                    kept.append(integration)
            if kept:
                receiver[kind] = kept
            else:
                del receiver[kind]
    return dropped


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
        document.setdefault("route", {}).update(
            {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1h"}
        )
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
