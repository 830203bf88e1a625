"""The kustomize components: the synthetic monitor (in the kind overlays) and the game day's CronJob
(rendered on the base here, as a staging overlay would use it). Both keep their RBAC to the namespace."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from helpers.deploy_files import (
    KUBERNETES,
    REPO_ROOT,
    WORKFLOWS,
    Manifest,
    find,
    load_yaml,
    of_kind,
    render,
    schema_version,
)
from offgridflow_runbook.cli import build_parser
from offgridflow_runbook.targets import load_targets

COMPONENTS = KUBERNETES / "components"
NAMESPACE = "offgridflow"
MONITOR = "offgridflow-synthetic-monitor"
GAMEDAY = "offgridflow-gameday"
READ_VERBS = {"get", "list", "watch"}
NEVER = {"*", "escalate", "bind", "impersonate"}
CLUSTER_KINDS = {"ClusterRole", "ClusterRoleBinding", "Namespace"}


@pytest.fixture(scope="module")
def with_gameday(tmp_path_factory: pytest.TempPathFactory) -> list[Manifest]:
    """The base with the game day's component, as an overlay of a staging cluster would add it."""
    folder = tmp_path_factory.mktemp("gameday-overlay")
    relative = {
        name: os.path.relpath(path, folder)
        for name, path in (("base", KUBERNETES / "base"), ("component", COMPONENTS / "gameday-cronjob"))
    }
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [relative["base"]],
                "components": [relative["component"]],
            }
        ),
        encoding="utf-8",
    )
    return render(folder)


def labelled(objects: list[Manifest], app: str) -> list[Manifest]:
    return [item for item in objects if item["metadata"].get("labels", {}).get("app") == app]


def role_rules(objects: list[Manifest], name: str) -> list[dict[str, Any]]:
    return list(find(objects, "Role", name, NAMESPACE)["rules"])


def granted(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(api group, resource, verb) for every grant of ``rules``."""
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def assert_kept_to_the_namespace(objects: list[Manifest], app: str) -> None:
    mine = labelled(objects, app)
    assert mine, f"nothing labelled app={app}"
    assert not [item["kind"] for item in mine if item["kind"] in CLUSTER_KINDS]
    assert {item["metadata"]["namespace"] for item in mine} == {NAMESPACE}
    binding = find(objects, "RoleBinding", app, NAMESPACE)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": app}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": app, "namespace": NAMESPACE}]
    grants = granted(role_rules(objects, app))
    assert not {grant for grant in grants if NEVER & {grant[1], grant[2]} or grant[0] == "*"}
    assert not {grant for grant in grants if grant[1] == "secrets"}, "no Secret is read or changed"


def config_files(objects: list[Manifest], app: str, tmp_path: Path) -> Path:
    """The component's ConfigMap written out as the pod sees it; returns the targets file."""
    (config,) = [item for item in labelled(objects, app) if item["kind"] == "ConfigMap"]
    for name, text in config["data"].items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path / "targets.yaml"


def container(objects: list[Manifest], kind: str, name: str) -> dict[str, Any]:
    item = find(objects, kind, name, NAMESPACE)
    spec = item["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else item["spec"]
    (only,) = spec["template"]["spec"]["containers"]
    return dict(only)


# -- the synthetic monitor ---------------------------------------------------------------------------
def test_the_monitor_runs_once_in_the_namespace_with_its_own_service_account(
    kind_overlay: list[Manifest],
) -> None:
    deployment = find(kind_overlay, "Deployment", MONITOR, NAMESPACE)
    assert deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == MONITOR
    find(kind_overlay, "ServiceAccount", MONITOR, NAMESPACE)
    assert_kept_to_the_namespace(kind_overlay, MONITOR)


def test_the_monitors_role_only_reads_what_the_checks_read(kind_overlay: list[Manifest]) -> None:
    grants = granted(role_rules(kind_overlay, MONITOR))
    assert {verb for _, _, verb in grants} <= READ_VERBS
    resources = {(group, resource) for group, resource, _ in grants}
    assert resources == {
        ("", "pods"),
        ("", "events"),
        ("", "endpoints"),
        ("", "services"),
        ("", "configmaps"),
        ("", "pods/log"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
    }


def test_the_monitors_command_is_the_monitor_of_its_in_cluster_target(
    kind_overlay: list[Manifest], tmp_path: Path
) -> None:
    monitor = container(kind_overlay, "Deployment", MONITOR)
    args = build_parser().parse_args(monitor["args"])
    assert args.command == "monitor"
    assert not args.once
    assert args.listen == ("0.0.0.0", 9097)
    assert args.every.total_seconds() == 60
    env = {item["name"]: item for item in monitor["env"]}
    targets_file = Path(env["OFFGRIDFLOW_TARGETS"]["value"])
    mounts = {mount["mountPath"]: mount for mount in monitor["volumeMounts"]}
    assert str(targets_file.parent) in mounts
    target = load_targets(config_files(kind_overlay, MONITOR, tmp_path))[args.target]
    assert not target.allow_writes
    assert not target.allow_chaos
    assert target.platform == "kubernetes"
    assert target.namespace == NAMESPACE
    assert Path(target.kubeconfig or "").name in (tmp_path / "kubeconfig").name
    assert env[target.token_env]["valueFrom"]["secretKeyRef"] == {
        "name": "offgridflow-secrets",
        "key": "OFFGRIDFLOW_API_TOKENS",
    }


def test_the_monitors_target_is_the_api_service_and_the_cluster_prometheus(
    kind_overlay: list[Manifest], tmp_path: Path
) -> None:
    target = load_targets(config_files(kind_overlay, MONITOR, tmp_path))["in-cluster"]
    service = find(kind_overlay, "Service", "offgridflow-api-service", NAMESPACE)
    ports = {port["name"]: port["port"] for port in service["spec"]["ports"]}
    assert target.base_url == f"http://offgridflow-api-service.{NAMESPACE}.svc:{ports['http']}"
    assert target.metrics_url == f"http://offgridflow-api-service.{NAMESPACE}.svc:{ports['metrics']}/metrics"
    prometheus = find(kind_overlay, "Service", "prometheus", "monitoring")
    assert (
        target.prometheus_url == f"http://prometheus.monitoring.svc:{prometheus['spec']['ports'][0]['port']}"
    )


def test_the_kind_prometheus_scrapes_the_monitors_metrics_port(kind_overlay: list[Manifest]) -> None:
    monitor = container(kind_overlay, "Deployment", MONITOR)
    (port,) = monitor["ports"]
    assert (port["name"], port["containerPort"]) == ("metrics", 9097)
    for probe in ("readinessProbe", "livenessProbe"):
        assert monitor[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    (config,) = [
        c for c in of_kind(kind_overlay, "ConfigMap") if c["metadata"]["name"].startswith("prometheus-config")
    ]
    jobs = {
        job["job_name"]: job for job in yaml.safe_load(config["data"]["prometheus.yml"])["scrape_configs"]
    }
    keep = next(rule for rule in jobs["synthetic-monitor"]["relabel_configs"] if rule.get("action") == "keep")
    assert re.fullmatch(keep["regex"], f"{MONITOR};{port['name']}")
    assert jobs["synthetic-monitor"]["kubernetes_sd_configs"][0]["namespaces"]["names"] == [NAMESPACE]


def test_the_offline_kind_overlay_has_the_monitor_too() -> None:
    offline = render(KUBERNETES / "overlays" / "kind-offline")
    find(offline, "Deployment", MONITOR, NAMESPACE)


# -- the game day's CronJob ----------------------------------------------------------------------------
def test_the_game_day_cronjob_is_quarterly_as_the_workflow_and_never_overlaps(
    with_gameday: list[Manifest],
) -> None:
    cronjob = find(with_gameday, "CronJob", GAMEDAY, NAMESPACE)
    raw = load_yaml(WORKFLOWS / "gameday.yml")
    workflow_on = raw.get("on", raw.get(True))
    assert [{"cron": cronjob["spec"]["schedule"]}] == workflow_on["schedule"]
    assert cronjob["spec"]["timeZone"] == "Etc/UTC"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0
    assert 0 < job["activeDeadlineSeconds"] <= 4 * 3600
    assert job["template"]["spec"]["serviceAccountName"] == GAMEDAY


def test_the_game_day_runs_the_chaos_suite_against_its_in_cluster_target(
    with_gameday: list[Manifest], tmp_path: Path
) -> None:
    gameday = container(with_gameday, "CronJob", GAMEDAY)
    command = gameday["command"]
    assert command[:2] == ["pytest", "chaos"]
    name = command[command.index("--target") + 1]
    target = load_targets(config_files(with_gameday, GAMEDAY, tmp_path))[name]
    assert target.allow_chaos
    assert target.namespace == NAMESPACE
    assert target.alert_receiver_url, "the game day scores the pages it sees delivered"
    assert (REPO_ROOT / "chaos").is_dir()


def test_the_game_days_rbac_is_kept_to_the_namespace(with_gameday: list[Manifest]) -> None:
    assert_kept_to_the_namespace(with_gameday, GAMEDAY)


# the Kubernetes client's calls -> (api group, resource, verb) as RBAC spells them
_RESOURCES = {
    "pod": ("", "pods"),
    "config_map": ("", "configmaps"),
    "event": ("", "events"),
    "endpoints": ("", "endpoints"),
    "service": ("", "services"),
    "deployment": ("apps", "deployments"),
    "replica_set": ("apps", "replicasets"),
    "stateful_set": ("apps", "statefulsets"),
    "ingress": ("networking.k8s.io", "ingresses"),
    "custom_object": ("metrics.k8s.io", "pods"),
}
_VERBS = {
    "read": "get",
    "list": "list",
    "patch": "patch",
    "replace": "update",
    "create": "create",
    "delete": "delete",
}


def driver_calls() -> set[tuple[str, str, str]]:
    """Every request the suite's Kubernetes driver makes, as an RBAC grant."""
    calls = set()
    for source in (REPO_ROOT / "src" / "offgridflow_runbook" / "platforms" / "kubernetes").glob("*.py"):
        text = source.read_text(encoding="utf-8")
        for match in re.finditer(r"\.(\w+?)_namespaced_(\w+)\b", text):
            action, kind = match.groups()
            if kind.endswith("_log"):
                calls.add(("", "pods/log", "get"))
            elif kind.endswith("_exec"):
                calls.add(("", "pods/exec", "create"))
            elif action in _VERBS:
                group, resource = _RESOURCES[kind]
                calls.add((group, resource, _VERBS[action]))
    return calls


def test_the_game_days_role_grants_every_request_the_kubernetes_driver_makes(
    with_gameday: list[Manifest],
) -> None:
    calls = driver_calls()
    assert ("apps", "deployments", "patch") in calls, (
        "the driver's calls were not found: the test cannot look"
    )
    missing = calls - granted(role_rules(with_gameday, GAMEDAY))
    assert not missing, sorted(missing)


def test_both_components_use_the_same_in_cluster_kubeconfig() -> None:
    monitor, gameday = (
        load_yaml(COMPONENTS / name / "kubeconfig") for name in ("synthetic-monitor", "gameday-cronjob")
    )
    assert monitor == gameday
    (user,) = monitor["users"]
    assert user["user"] == {"tokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token"}


def test_the_game_day_objects_validate_strictly(with_gameday: list[Manifest]) -> None:
    problems = []
    for item in labelled(with_gameday, GAMEDAY):
        try:
            kubernetes_validate.validate(item, schema_version(), strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{item['kind']}/{item['metadata']['name']}: {error.message}")
    assert not problems
