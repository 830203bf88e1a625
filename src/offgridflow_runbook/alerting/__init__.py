"""The repository's alerting configuration made fit for where it runs.

``drop_integrations_without_secrets``: the Alertmanager routes of ``deploy/prometheus/alertmanager.yml``
without each PagerDuty/Slack integration whose key file is missing (the local stack renders its file
with it; on Kubernetes an init container of the Alertmanager pod runs
``python -m offgridflow_runbook.alerting SOURCE SECRETS DESTINATION`` from the mounted Secret).
``fast_route``: the route timings of the fast alert profile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["SECRETS_MOUNT", "SECRET_FILE_KEYS", "drop_integrations_without_secrets", "fast_route"]

# Where Alertmanager reads the outside services' keys (PagerDuty routing keys, the Slack webhook URL):
# the repository's alertmanager.yml names files under this folder (``routing_key_file``, ``api_url_file``).
SECRETS_MOUNT = "/etc/alertmanager-secrets"
SECRET_FILE_KEYS = ("routing_key_file", "api_url_file", "service_key_file")


def drop_integrations_without_secrets(
    document: dict[str, Any], secrets: Path, *, mount: str = SECRETS_MOUNT
) -> list[str]:
    """Remove each PagerDuty/Slack integration whose key file is not in ``secrets``; what was dropped.

    Alertmanager loads a configuration whose key files are missing and only fails at every send, so an
    integration without its secret is left out instead: the receiver keeps its other integrations.
    ``secrets`` is the folder that holds, on this machine, what Alertmanager sees under ``mount``."""
    dropped = []
    for receiver in document.get("receivers", []):
        for kind in [key for key in receiver if key.endswith("_configs") and key != "webhook_configs"]:
            kept = []
            for integration in receiver[kind]:
                files = [str(integration[key]) for key in SECRET_FILE_KEYS if key in integration]
                present = all((secrets / Path(file).relative_to(mount)).is_file() for file in files)
                if files and not present:
                    dropped.append(f"{receiver['name']}: {kind.removesuffix('_configs')}")
                else:
                    kept.append(integration)
            if kept:
                receiver[kind] = kept
            else:
                del receiver[kind]
    return dropped


def fast_route(document: dict[str, Any]) -> None:
    """The fast profile's route: a page leaves Alertmanager a second after it fires, not 10 s."""
    document.setdefault("route", {}).update(
        {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1h"}
    )
