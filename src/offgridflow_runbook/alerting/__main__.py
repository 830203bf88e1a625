"""``python -m offgridflow_runbook.alerting SOURCE SECRETS DESTINATION``: write SOURCE's Alertmanager
configuration to DESTINATION without the integrations whose key file is not in SECRETS.

The Alertmanager pod's init container on Kubernetes (deploy/kubernetes/overlays/kind): a cluster with
no Secret ``alertmanager-receivers`` gets the webhook receiver alone instead of failing sends."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from offgridflow_runbook.alerting import SECRETS_MOUNT, drop_integrations_without_secrets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offgridflow_runbook.alerting", description=__doc__)
    parser.add_argument("source", type=Path, help="the repository's alertmanager.yml")
    parser.add_argument(
        "secrets", type=Path, help=f"the folder mounted where the file expects {SECRETS_MOUNT}"
    )
    parser.add_argument("destination", type=Path, help="where Alertmanager reads its configuration")
    arguments = parser.parse_args(argv)
    try:
        document = yaml.safe_load(arguments.source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        print(f"error: cannot read {arguments.source}: {error}", file=sys.stderr)
        return 2
    if not isinstance(document, dict):
        print(f"error: {arguments.source} is not an Alertmanager configuration (no mapping)", file=sys.stderr)
        return 2
    dropped = drop_integrations_without_secrets(document, arguments.secrets)
    arguments.destination.parent.mkdir(parents=True, exist_ok=True)
    arguments.destination.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    for integration in dropped:
        print(f"left out (no key file in {arguments.secrets}): {integration}")
    print(f"wrote {arguments.destination} ({len(dropped)} integration(s) left out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
