"""kind-config.yaml and the kind overlay: host ports on 127.0.0.1, in-cluster monitoring, pinned images."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from helpers.deploy_files import (
    KIND_CONFIG,
    KUBERNETES,
    KUSTOMIZATIONS,
    PROMETHEUS,
    REPO_ROOT,
    RULES_FILE,
    SYNTHETIC_RULES_FILE,
    Manifest,
    find,
    load_yaml,
    of_kind,
    render,
    require_tool,
)

KIND_MONITORING = KUBERNETES / "overlays" / "kind" / "monitoring"
# NodePort in the overlay -> host port of the kind target's URLs on 127.0.0.1 (beside the local
# stack's 8080/8081/9090/9093, so both can run at once).
HOST_PORTS = {
    ("offgridflow", "offgridflow-api-service", "http"): 18080,
    ("offgridflow", "offgridflow-api-service", "metrics"): 18081,
    ("monitoring", "prometheus", "web"): 19090,
    ("monitoring", "alertmanager", "web"): 19093,
}


def test_kind_config_has_one_control_plane_node_on_a_pinned_node_image() -> None:
    config = load_yaml(KIND_CONFIG)
    assert config["name"] == "offgridflow"
    assert [node["role"] for node in config["nodes"]] == ["control-plane"]
    for node in config["nodes"]:
        assert node["image"].startswith("kindest/node:v1.31.0@sha256:"), node["image"]
    assert config["networking"]["apiServerAddress"] == "127.0.0.1"


def test_the_kind_target_uses_the_host_ports_kind_maps() -> None:
    target = load_yaml(REPO_ROOT / "targets.yaml")["targets"]["kind"]
    mapped = {
        m["hostPort"] for node in load_yaml(KIND_CONFIG)["nodes"] for m in node.get("extraPortMappings", [])
    }
    for key in ("base_url", "metrics_url", "prometheus_url", "alertmanager_url"):
        port = int(target[key].split(":")[2].split("/")[0])
        assert port in mapped, key


def test_kind_maps_each_nodeport_to_its_host_port_on_loopback_only(kind_overlay: list[Manifest]) -> None:
    mappings = [
        mapping for node in load_yaml(KIND_CONFIG)["nodes"] for mapping in node.get("extraPortMappings", [])
    ]
    assert {mapping["listenAddress"] for mapping in mappings} == {"127.0.0.1"}
    host_port_of = {mapping["containerPort"]: mapping["hostPort"] for mapping in mappings}
    for (namespace, service, port_name), host_port in HOST_PORTS.items():
        spec = find(kind_overlay, "Service", service, namespace)["spec"]
        assert spec["type"] == "NodePort"
        node_port = next(port["nodePort"] for port in spec["ports"] if port["name"] == port_name)
        assert host_port_of.get(node_port) == host_port, f"{service}/{port_name}"


def test_the_overlay_runs_prometheus_alertmanager_kube_state_metrics_and_metrics_server(
    kind_overlay: list[Manifest],
) -> None:
    for namespace, name in [
        ("monitoring", "prometheus"),
        ("monitoring", "alertmanager"),
        ("monitoring", "kube-state-metrics"),
        ("kube-system", "metrics-server"),
    ]:
        find(kind_overlay, "Deployment", name, namespace)
    find(kind_overlay, "APIService", "v1beta1.metrics.k8s.io")


def test_prometheus_in_kind_loads_the_repository_rules_unchanged(kind_overlay: list[Manifest]) -> None:
    rules = [
        item
        for item in of_kind(kind_overlay, "ConfigMap")
        if item["metadata"]["name"].startswith("prometheus-rules")
    ]
    assert len(rules) == 1
    assert rules[0]["data"] == {
        path.name: path.read_text(encoding="utf-8") for path in (RULES_FILE, SYNTHETIC_RULES_FILE)
    }
    volumes = find(kind_overlay, "Deployment", "prometheus", "monitoring")["spec"]["template"]["spec"][
        "volumes"
    ]
    assert rules[0]["metadata"]["name"] in {volume.get("configMap", {}).get("name") for volume in volumes}


def test_every_image_is_pinned_to_a_version(kind_overlay: list[Manifest]) -> None:
    images = {
        container["image"]
        for item in kind_overlay
        if item["kind"] in {"Deployment", "StatefulSet"}
        for container in item["spec"]["template"]["spec"]["containers"]
    }
    unpinned = {image for image in images if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")}
    assert not unpinned
    assert len(images) >= 6


def test_the_kind_api_runs_the_memory_assault_the_base_keeps_off(
    kind_overlay: list[Manifest], base: list[Manifest]
) -> None:
    def assaults(objects: list[Manifest]) -> str:
        maps = [
            item
            for item in of_kind(objects, "ConfigMap")
            if item["metadata"]["name"].startswith("offgridflow-config")
        ]
        return str(maps[0]["data"]["OFFGRIDFLOW_CHAOS_ASSAULTS"])

    assert assaults(kind_overlay) == "memory"
    assert assaults(base) == ""


def test_the_kind_prometheus_config_is_valid_and_names_the_rules_jobs(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "it checks Prometheus configuration (apt-get install prometheus)")
    config = load_yaml(KIND_MONITORING / "prometheus.yml")
    assert {"offgridflow-api", "postgres", "kube-state-metrics"} <= {
        job["job_name"] for job in config["scrape_configs"]
    }
    # The in-cluster rule path does not exist here; point it at the repository's rules for the check.
    config["rule_files"] = [str(RULES_FILE)]
    # Debian's promtool is built without Kubernetes service discovery, so the discovery block is
    # asserted here and swapped for a static target; relabelling and the rest are still checked.
    for job in config["scrape_configs"]:
        discovery = job.pop("kubernetes_sd_configs", None)
        if discovery is not None:
            assert discovery == [{"role": "pod", "namespaces": {"names": ["offgridflow"]}}], job["job_name"]
            job["static_configs"] = [{"targets": ["127.0.0.1:1"]}]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "config", str(local)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_kind_alertmanager_uses_the_repository_routes_and_runs_their_receiver(
    kind_overlay: list[Manifest],
) -> None:
    config_file = PROMETHEUS / "alertmanager.yml"
    maps = [
        item
        for item in of_kind(kind_overlay, "ConfigMap")
        if item["metadata"]["name"].startswith("alertmanager-config")
    ]
    assert [item["data"] for item in maps] == [{"alertmanager.yml": config_file.read_text(encoding="utf-8")}]
    urls = {
        hook["url"]
        for receiver in load_yaml(config_file)["receivers"]
        for hook in receiver.get("webhook_configs", [])
    }
    assert urls == {"http://127.0.0.1:9095/alerts"}
    pod = find(kind_overlay, "Deployment", "alertmanager", "monitoring")["spec"]["template"]["spec"]
    receiver = next(container for container in pod["containers"] if container["name"] == "alert-receiver")
    assert {variable["name"]: variable["value"] for variable in receiver["env"]}[
        "ALERT_RECEIVER_PORT"
    ] == "9095"
    script = next(volume for volume in pod["volumes"] if volume["name"] == "receiver-script")["configMap"][
        "name"
    ]
    script_map = find(kind_overlay, "ConfigMap", script, "monitoring")
    receiver_source = (REPO_ROOT / "deploy" / "docker" / "alert_receiver.py").read_text(encoding="utf-8")
    assert script_map["data"] == {"alert_receiver.py": receiver_source}


def _images(objects: list[Manifest]) -> dict[str, str]:
    """container name -> image, over every pod template of the render."""
    images = {}
    for item in objects:
        pod = item.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            images[container["name"]] = container["image"]
    return images


def _version(image: str) -> list[str]:
    return image.rsplit(":", 1)[1].removeprefix("v").split("-")[0].split(".")


# The containers whose version differs between the overlays, chosen (and stated) in kind-offline.
STATED_DIFFERENCES = {"postgres": "PostgreSQL is Debian's", "postgres-exporter": "postgres-exporter Debian's"}


def test_the_offline_and_upstream_overlays_run_one_set_of_monitoring_versions() -> None:
    upstream, offline = (_images(render(KUSTOMIZATIONS[name])) for name in ("kind", "kind-offline"))
    stated = (KUSTOMIZATIONS["kind-offline"] / "kustomization.yaml").read_text(encoding="utf-8")
    compared = []
    for name, image in offline.items():
        if not image.startswith("offgridflow.local/kind/") or "pause" in image:
            continue  # the API's own images, built from this repository in both
        theirs, ours = _version(upstream[name]), _version(image)
        if name in STATED_DIFFERENCES:
            said = " ".join(stated.split())
            assert STATED_DIFFERENCES[name] in said, f"{name}: the difference is not stated in kind-offline"
            continue
        compared.append(name)
        # Debian's tag names major.minor (0.25): the upstream pin is that release (v0.25.0)
        assert theirs[: len(ours)] == ours, f"{name}: kind runs {upstream[name]}, kind-offline {image}"
    assert {"alertmanager", "kube-state-metrics", "metrics-server", "prometheus"} <= set(compared)


def test_no_liveness_probe_restarts_a_container_in_the_first_minute_of_its_start(
    kind_overlay: list[Manifest],
) -> None:
    # kind-up starts every pod of the cluster at once beside the other test tiers, on two cores: a
    # start then takes tens of seconds, and a liveness probe that gives up sooner restarts containers
    # that were only starting (the API in CI of e7023ef, metrics-server after a machine restart)
    workloads = [m for m in kind_overlay if m["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]
    checked = []
    for workload in workloads:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            liveness = container.get("livenessProbe")
            if liveness is None:
                continue
            # the kubelet's defaults: period 10 s, 3 failures, no initial delay
            startup = container.get("startupProbe")
            first_restart_after = (
                startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
                if startup
                else liveness.get("initialDelaySeconds", 0)
                + liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3)
            )
            name = f"{workload['metadata']['name']}/{container['name']}"
            assert first_restart_after >= 60, f"{name}: restarted {first_restart_after} s into a slow start"
            checked.append(name)
    assert {"offgridflow-api/api", "metrics-server/metrics-server"} <= set(checked)


NODE_FILES = REPO_ROOT / "deploy" / "kind-node" / "files"


def test_the_offline_nodes_kubelet_and_containerd_use_one_cgroup_driver_cgroupfs() -> None:
    # systemd's driver lost OOMKilled reasons (docs/kind-offline.md); the kubelet must agree with
    # containerd, or it does not start
    containerd = (NODE_FILES / "containerd-config.toml").read_text()
    kubelet = (NODE_FILES / "10-kubeadm.conf").read_text()
    assert [line.strip() for line in containerd.splitlines() if line.strip().startswith("SystemdCgroup")] == [
        "SystemdCgroup = false"
    ]
    assert "--cgroup-driver=cgroupfs" in kubelet
    # the change must reach clusters made before it: the node image's generation says so
    dockerfile = (REPO_ROOT / "deploy" / "kind-node" / "Dockerfile").read_text()
    generation = re.search(r'offgridflow\.node-generation="(\d+)"', dockerfile)
    assert generation
    assert int(generation[1]) >= 2
