"""What the ``kube_fake`` fixture returns: the fake's state, a target for it, and seed helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import kube_fake_seed as seed
from helpers.kube_fake_server import JSON, KubeFake
from offgridflow_runbook.platforms.kubernetes.driver import KubernetesPlatform
from offgridflow_runbook.targets import Target

CONFIG_ERROR_LOG = (
    '{"level": "info", "event": "starting"}\n'
    '{"level": "error", "event": "invalid configuration", "key": "OFFGRIDFLOW_DB_POOL_MAX", '
    '"value": "lots", "reason": "not an integer"}\n'
)
PULL_ERROR = (
    'Failed to pull image "127.0.0.1:5000/offgridflow-api:v9.9.9": rpc error: code = NotFound '
    "desc = failed to pull and unpack image: 127.0.0.1:5000/offgridflow-api:v9.9.9: not found"
)


class KubeFakeEnvironment:
    """One running fake API server with a kubeconfig for it."""

    def __init__(self, fake: KubeFake, kubeconfig: Path) -> None:
        self.fake = fake
        self.kubeconfig = kubeconfig
        self.target = Target(
            name="kube-fake",
            platform="kubernetes",
            base_url="http://127.0.0.1:9",
            kube_context="kube-fake",
            kubeconfig=str(kubeconfig),
            namespace="offgridflow",
            allow_chaos=True,
            allow_writes=True,
            description="HTTP Kubernetes API fake (tests/platforms/kubernetes)",
        )
        self._platforms: list[KubernetesPlatform] = []

    def platform(self) -> KubernetesPlatform:
        platform = KubernetesPlatform(self.target)
        self._platforms.append(platform)
        return platform

    def close(self) -> None:
        for platform in self._platforms:
            platform.close()

    # -- seeding -------------------------------------------------------------------------------
    def seed_runbook_namespace(self, *, hashed_config: bool = False) -> None:
        seed.seed_runbook_namespace(self.fake, hashed_config=hashed_config)

    def add_api_pod(self, name: str, **kwargs: Any) -> JSON:
        kwargs.setdefault(
            "spec_container",
            seed.container(limits={"memory": "512Mi", "cpu": "500m"}, requests={"memory": "256Mi"}),
        )
        return seed.add_pod(self.fake, name, **kwargs)

    def set_log(self, pod: str, text: str, *, previous: bool = False, container: str = "api") -> None:
        self.fake.pod_logs[(pod, container, previous)] = text

    def oom_killed_pod(self, name: str = "offgridflow-api-oom") -> JSON:
        return self.add_api_pod(
            name,
            restart_count=3,
            last_state={
                "terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-01-01T00:05:00Z"}
            },
        )

    def image_pull_backoff_pod(self, name: str = "offgridflow-api-badimage") -> JSON:
        return self.add_api_pod(
            name,
            phase="Pending",
            ready=False,
            spec_container=seed.container(image="127.0.0.1:5000/offgridflow-api:v9.9.9"),
            state={"waiting": {"reason": "ImagePullBackOff", "message": PULL_ERROR}},
        )

    def crash_looping_pod(self, name: str = "offgridflow-api-badconfig") -> JSON:
        pod = self.add_api_pod(
            name,
            ready=False,
            restart_count=5,
            state={
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off 2m40s restarting failed container",
                }
            },
            last_state={
                "terminated": {"reason": "Error", "exitCode": 78, "finishedAt": "2026-01-01T00:06:00Z"}
            },
        )
        self.set_log(name, CONFIG_ERROR_LOG, previous=True)
        self.set_log(name, '{"level": "info", "event": "starting"}\n')
        return pod

    def pending_pod(self, name: str = "offgridflow-api-pending") -> JSON:
        pod = self.add_api_pod(name, phase="Pending", ready=False)
        pod["status"]["containerStatuses"] = []
        pod["status"]["conditions"] = [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
            {"type": "Ready", "status": "False"},
        ]
        return pod

    def add_event(
        self, name: str, *, reason: str, message: str, at: str, type: str = "Warning", involved: str
    ) -> JSON:
        return self.fake.put(
            "api/v1",
            "events",
            {
                "metadata": {"name": name},
                "type": type,
                "reason": reason,
                "message": message,
                "lastTimestamp": at,
                "involvedObject": {"kind": "Pod", "name": involved},
            },
        )

    def add_pod_metrics(self, pod: str, *, memory: str, cpu: str, app: str = "offgridflow-api") -> JSON:
        return self.fake.put(
            "apis/metrics.k8s.io/v1beta1",
            "pods",
            {
                "metadata": {"name": pod, "labels": {"app": app}},
                "containers": [{"name": "api", "usage": {"memory": memory, "cpu": cpu}}],
            },
        )
