"""The options subcommands share: the target's (the same names as the pytest options), the runbook's."""

from __future__ import annotations

import argparse
from pathlib import Path

from offgridflow_runbook.runbook.document import DEFAULT_RUNBOOK, RUNBOOK_ENV
from offgridflow_runbook.targets import DEFAULT_TARGETS_FILE, Target, load_target

__all__ = ["add_runbook_option", "add_target_options", "target_from"]


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="local", help="target profile (default: local)")
    parser.add_argument(
        "--targets-file",
        default=None,
        help=f"targets file (default: $OFFGRIDFLOW_TARGETS or {DEFAULT_TARGETS_FILE})",
    )
    parser.add_argument("--base-url", default=None, help="override the target's API base URL")
    parser.add_argument("--token-env", default=None, help="override the token's environment variable name")
    parser.add_argument("--kube-context", default=None, help="override the target's kube context")
    parser.add_argument(
        "--kubeconfig",
        default=None,
        help="override the target's kubeconfig file (default: the target's 'kubeconfig', "
        "else $KUBECONFIG, else ~/.kube/config)",
    )
    parser.add_argument("--namespace", default=None, help="override the target's namespace")
    parser.add_argument("--prometheus-url", default=None, help="override the target's Prometheus URL")


def target_from(args: argparse.Namespace) -> Target:
    """The chosen target with the overrides applied; TargetError for a user mistake."""
    target = load_target(args.target, args.targets_file or DEFAULT_TARGETS_FILE)
    return target.with_overrides(
        base_url=args.base_url,
        token_env=args.token_env,
        kube_context=args.kube_context,
        kubeconfig=args.kubeconfig,
        namespace=args.namespace,
        prometheus_url=args.prometheus_url,
    )


def add_runbook_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runbook",
        type=Path,
        default=None,
        help=f"the runbook to read (default: ${RUNBOOK_ENV} or {DEFAULT_RUNBOOK.name} of the project)",
    )
