"""The kustomize base and overlays: valid Kubernetes objects carrying every name the runbook uses."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import kubernetes_validate
import pytest

from helpers.deploy_files import (
    KUSTOMIZATIONS,
    REPO_ROOT,
    WORKFLOWS,
    Manifest,
    cluster_kubernetes_version,
    find,
    load_yaml,
    of_kind,
    render,
    schema_version,
)
from offgridflow_api.config import load_settings

NAMESPACE = "offgridflow"
FIX_2_MEMORY_LIMIT = "2Gi"
FIX_2_MEMORY_REQUEST = "1Gi"
_BINARY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity with a binary suffix (512Mi) or none, in bytes."""
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti)?", quantity)
    assert match, f"unsupported memory quantity {quantity!r}"
    return int(match[1]) * _BINARY_UNITS.get(match[2] or "", 1)


def documented_variables(where: str) -> set[str]:
    """The variables docs/architecture.md says come from the ConfigMap or from the Secret."""
    table = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return set(re.findall(rf"^\| `(OFFGRIDFLOW_[A-Z_]+)` \| {where} \|", table, flags=re.MULTILINE))


def api_deployment(objects: list[Manifest]) -> Manifest:
    return find(objects, "Deployment", "offgridflow-api", NAMESPACE)


def api_container(objects: list[Manifest]) -> Manifest:
    containers = api_deployment(objects)["spec"]["template"]["spec"]["containers"]
    return next(container for container in containers if container["name"] == "api")


def config_map(objects: list[Manifest]) -> Manifest:
    maps = [
        item
        for item in of_kind(objects, "ConfigMap")
        if item["metadata"]["name"].startswith("offgridflow-config")
    ]
    assert len(maps) == 1, f"expected one offgridflow-config ConfigMap, found {len(maps)}"
    return maps[0]


def test_every_rendered_object_is_valid_for_the_clusters_kubernetes_in_strict_mode(
    rendered: tuple[str, list[Manifest]],
) -> None:
    name, objects = rendered
    problems = []
    for item in objects:
        try:
            kubernetes_validate.validate(item, schema_version(), strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{item['kind']}/{item['metadata']['name']}: {error.message}")
    assert not problems, f"{name}: " + "; ".join(problems)


def test_strict_validation_rejects_a_misspelt_field(base: list[Manifest]) -> None:
    deployment = api_deployment(base)
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, schema_version(), strict=True)


def test_the_schema_is_the_clusters_minor_and_ci_runs_the_same_minor() -> None:
    # the offline node image is built from the pinned k8s.io/kubernetes; CI runs kind's upstream
    # image: both must be the schema's minor version, or the unit tests validate against another API
    assert schema_version().rsplit(".", 1)[0] == cluster_kubernetes_version().rsplit(".", 1)[0]
    for workflow in ("gameday.yml", "pre-deploy-gate.yml"):
        image = load_yaml(WORKFLOWS / workflow)["env"]["KIND_NODE_IMAGE"]
        match = re.fullmatch(r"kindest/node:v(\d+\.\d+)\.\d+(@sha256:[0-9a-f]{64})?", image)
        assert match, f"{workflow}: KIND_NODE_IMAGE {image!r}"
        assert f"{match[1]}.0" == schema_version(), (
            f"{workflow}: {image} is not Kubernetes {schema_version()}"
        )


def test_validation_runs_offline_from_bundled_schemas() -> None:
    schemas = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    assert (schemas / f"v{schema_version()}-local-strict").is_dir()


def test_the_api_deployment_is_the_one_the_runbook_names(rendered: tuple[str, list[Manifest]]) -> None:
    _, objects = rendered
    find(objects, "Namespace", NAMESPACE)
    deployment = api_deployment(objects)
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["selector"]["matchLabels"] == {"app": "offgridflow-api"}
    assert spec["template"]["metadata"]["labels"]["app"] == "offgridflow-api"
    container = api_container(objects)
    assert container["image"] == "ghcr.io/your-org/offgridflow-api:v1.3.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8080, "metrics": 8081}
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"


def test_a_slow_start_is_waited_for_by_a_startup_probe_before_liveness_can_restart_it(
    rendered: tuple[str, list[Manifest]],
) -> None:
    # CI run of e7023ef: an API pod started while the whole cluster did, on two busy cores, and the
    # liveness probe (5 s delay, 3 misses) restarted it before it listened
    container = api_container(rendered[1])
    startup, liveness = container["startupProbe"], container["livenessProbe"]
    assert startup["httpGet"] == liveness["httpGet"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    # liveness no longer guesses a start-up time: it begins when the startup probe has passed
    assert "initialDelaySeconds" not in liveness


def test_the_memory_limit_is_below_fix_2_so_the_runbook_patch_is_a_raise(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, objects = rendered
    resources = api_container(objects)["resources"]
    assert memory_bytes(resources["limits"]["memory"]) < memory_bytes(FIX_2_MEMORY_LIMIT)
    assert memory_bytes(resources["requests"]["memory"]) < memory_bytes(FIX_2_MEMORY_REQUEST)
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert {"cpu", "memory"} <= set(resources["limits"])


def test_pods_run_as_non_root_and_are_scraped_on_the_metrics_port(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, objects = rendered
    for workload in (api_deployment(objects), find(objects, "StatefulSet", "postgres", NAMESPACE)):
        pod = workload["spec"]["template"]
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        for container in pod["spec"]["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
    annotations = api_deployment(objects)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8081"


def test_the_services_expose_the_api_its_metrics_and_postgres(rendered: tuple[str, list[Manifest]]) -> None:
    _, objects = rendered
    api = find(objects, "Service", "offgridflow-api-service", NAMESPACE)
    assert api["spec"]["selector"] == {"app": "offgridflow-api"}
    assert {port["port"] for port in api["spec"]["ports"]} == {8080, 8081}
    postgres = find(objects, "Service", "postgres-service", NAMESPACE)
    assert postgres["spec"]["selector"] == {"app": "postgres"}
    assert 5432 in {port["port"] for port in postgres["spec"]["ports"]}
    ingress = find(objects, "Ingress", "offgridflow-api", NAMESPACE)
    backends = [
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends == ["offgridflow-api-service"]


def test_postgres_is_a_statefulset_with_a_volume_claim_and_an_exporter(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, objects = rendered
    statefulset = find(objects, "StatefulSet", "postgres", NAMESPACE)
    assert statefulset["spec"]["selector"]["matchLabels"] == {"app": "postgres"}
    assert statefulset["spec"]["volumeClaimTemplates"], "postgres needs a volume claim"
    containers = {
        container["name"]: container for container in statefulset["spec"]["template"]["spec"]["containers"]
    }
    assert set(containers) == {"postgres", "postgres-exporter"}
    exporter_ports = {
        port["name"]: port["containerPort"] for port in containers["postgres-exporter"]["ports"]
    }
    assert exporter_ports == {"metrics": 9187}


def test_the_pdb_and_hpa_cover_the_api(rendered: tuple[str, list[Manifest]]) -> None:
    _, objects = rendered
    pdb = find(objects, "PodDisruptionBudget", "offgridflow-api", NAMESPACE)
    assert pdb["spec"]["selector"]["matchLabels"] == {"app": "offgridflow-api"}
    hpa = find(objects, "HorizontalPodAutoscaler", "offgridflow-api", NAMESPACE)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "offgridflow-api"
    assert hpa["spec"]["minReplicas"] >= 2


def test_config_and_secret_keys_are_the_documented_variables(rendered: tuple[str, list[Manifest]]) -> None:
    _, objects = rendered
    config = config_map(objects)["data"]
    secret = find(objects, "Secret", "offgridflow-secrets", NAMESPACE)
    secret_keys = set(secret.get("data", {})) | set(secret.get("stringData", {}))
    assert set(config) == documented_variables("ConfigMap")
    assert secret_keys == documented_variables("Secret")
    assert config["OFFGRIDFLOW_BIND"] == "0.0.0.0"
    assert config["OFFGRIDFLOW_DATABASE_HOST"] == "postgres-service"


def test_the_pod_environment_passes_the_services_own_validation(rendered: tuple[str, list[Manifest]]) -> None:
    import base64

    _, objects = rendered
    secret = find(objects, "Secret", "offgridflow-secrets", NAMESPACE)
    environment = dict(config_map(objects)["data"])
    environment.update({key: base64.b64decode(value).decode() for key, value in secret["data"].items()})
    settings = load_settings(environment)
    assert (settings.bind, settings.database_host) == ("0.0.0.0", "postgres-service")


def test_the_api_takes_its_environment_from_the_rendered_configmap_and_secret(
    rendered: tuple[str, list[Manifest]],
) -> None:
    _, objects = rendered
    sources = api_container(objects)["envFrom"]
    assert [source["configMapRef"]["name"] for source in sources if "configMapRef" in source] == [
        config_map(objects)["metadata"]["name"]
    ]
    assert [source["secretRef"]["name"] for source in sources if "secretRef" in source] == [
        "offgridflow-secrets"
    ]


@pytest.mark.parametrize(
    ("kustomization", "hashed"), [("base", True), ("kind", True), ("kind-inplace-config", False)]
)
def test_the_configmap_is_hashed_except_in_the_inplace_variant(kustomization: str, hashed: bool) -> None:
    name = config_map(render(KUSTOMIZATIONS[kustomization]))["metadata"]["name"]
    if hashed:
        assert re.fullmatch(r"offgridflow-config-[a-z0-9]{10}", name), name
    else:
        assert name == "offgridflow-config"


def test_a_config_change_gives_a_new_configmap_name_so_rollout_undo_restores_it(tmp_path: Path) -> None:
    copy = tmp_path / "base"
    shutil.copytree(KUSTOMIZATIONS["base"], copy)
    config = copy / "config.env"
    config.write_text(config.read_text().replace("OFFGRIDFLOW_DB_POOL_MAX=10", "OFFGRIDFLOW_DB_POOL_MAX=20"))
    before, after = render(KUSTOMIZATIONS["base"]), render(copy)
    assert config_map(before)["metadata"]["name"] != config_map(after)["metadata"]["name"]
    assert api_container(before)["envFrom"] != api_container(after)["envFrom"]
