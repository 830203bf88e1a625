"""The driver sends, for each runbook command, the requests kubectl (v1.32) sends for it.

kubectl's requests, as its source builds them (k8s.io/kubectl/pkg/cmd/...), for namespace offgridflow:

- ``rollout restart deployment/X``: GET the Deployment, then PATCH it with
  ``?fieldManager=kubectl-rollout``, ``application/strategic-merge-patch+json`` and the two-way merge
  patch of the restartedAt annotation (time.RFC3339).
- ``patch deployment X -p JSON``: PATCH ``?fieldManager=kubectl-patch``, strategic merge, the JSON as given.
- ``set image deployment/X api=IMAGE``: GET, then PATCH ``?fieldManager=kubectl-set``, strategic merge,
  ``{"spec":{"template":{"spec":{"$setElementOrder/containers":[...],"containers":[{"image":..,"name":"api"}]}}}}``.
- ``rollout undo deployment/X``: GET the Deployment, LIST ReplicaSets by its selector, PATCH with no
  query, ``application/json-patch+json``: replace /spec/template (pod-template-hash label dropped)
  and /metadata/annotations.
- ``rollout restart statefulset/postgres``: as for the Deployment, on the StatefulSet.
- ``delete pod -l app=postgres --grace-period=0 --force``: LIST pods by label, DELETE each with
  ``{"gracePeriodSeconds":0,"propagationPolicy":"Background"}``.
- ``logs -l app=offgridflow-api --tail=100 [--previous]``: LIST pods by label, then per pod
  GET .../log?container=api&tailLines=100[&previous=true].
- ``exec deployment/X -- pg_isready ...``: GET .../pods/NAME/exec?command=...&container=api&stderr=true
  &stdout=true as a websocket (v4.channel.k8s.io).
- ``top pods -l app=offgridflow-api``: GET /apis/metrics.k8s.io/v1beta1/namespaces/offgridflow/pods
  ?labelSelector=app=offgridflow-api.

Known differences, on purpose: ``kubectl get`` adds ``limit=500`` (paging) to lists; ``rollout
status`` watches the Deployment instead of polling it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

NS = "/namespaces/offgridflow"
DEPLOYMENT_PATH = f"/apis/apps/v1{NS}/deployments/offgridflow-api"
STRATEGIC = "application/strategic-merge-patch+json"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RUNBOOK = Path(__file__).resolve().parents[3] / "docs" / "runbooks" / "offgridflow-api-down.md"


@pytest.fixture
def seeded(kube_fake):
    kube_fake.seed_runbook_namespace()
    kube_fake.add_api_pod(
        "offgridflow-api-1", restart_count=1, last_state={"terminated": {"reason": "Error"}}
    )
    return kube_fake


def _writes(fake):
    return [(r.method, r.path, r.params, r.content_type, r.body) for r in fake.writes()]


def _gets(fake):
    return [(r.path, r.params) for r in fake.requests if r.method == "GET"]


def _runbook_patch_body() -> dict:
    """Fix 2's ``kubectl patch ... -p '...'`` body, read from the runbook itself."""
    text = RUNBOOK.read_text(encoding="utf-8")
    match = re.search(r"kubectl patch deployment offgridflow-api -n offgridflow -p '(.*?)'", text, re.DOTALL)
    assert match, "the runbook's Fix 2 patch command was not found"
    return yaml.safe_load(match.group(1))


def _restarted_at(body) -> str:
    value = body["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value), value
    assert abs(datetime.fromisoformat(value.replace("Z", "+00:00")) - datetime.now(UTC)) < timedelta(
        minutes=1
    )
    return value


def test_rollout_restart_is_kubectls_strategic_patch_of_restarted_at(seeded):
    seeded.platform().rollout_restart()
    [(method, path, params, content_type, body)] = _writes(seeded.fake)
    stamp = _restarted_at(body)
    assert (method, path, params, content_type) == (
        "PATCH",
        DEPLOYMENT_PATH,
        {"fieldManager": "kubectl-rollout"},
        STRATEGIC,
    )
    assert body == {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    template = seeded.fake.get("apis/apps/v1", "deployments", "offgridflow-api")["spec"]["template"]
    assert template["metadata"]["annotations"][RESTARTED_AT] == stamp


def test_patch_memory_sends_the_runbooks_patch_body(seeded):
    seeded.platform().patch_memory()
    assert _writes(seeded.fake) == [
        ("PATCH", DEPLOYMENT_PATH, {"fieldManager": "kubectl-patch"}, STRATEGIC, _runbook_patch_body())
    ]
    api = seeded.fake.get("apis/apps/v1", "deployments", "offgridflow-api")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert api["resources"]["limits"] == {"memory": "2Gi", "cpu": "500m"}  # merged by name, cpu kept
    assert api["resources"]["requests"] == {"memory": "1Gi"}


def test_set_image_is_kubectl_set_images_two_way_merge_patch(seeded):
    image = "ghcr.io/your-org/offgridflow-api:v1.2.3"
    seeded.platform().set_image(image)
    body = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "api"}],
                    "containers": [{"image": image, "name": "api"}],
                }
            }
        }
    }
    assert _writes(seeded.fake) == [
        ("PATCH", DEPLOYMENT_PATH, {"fieldManager": "kubectl-set"}, STRATEGIC, body)
    ]
    assert _gets(seeded.fake) == [(DEPLOYMENT_PATH, {})]


def test_rollout_undo_is_kubectls_json_patch_to_the_previous_template(seeded):
    seeded.platform().rollout_undo()
    replica_set = seeded.fake.get("apis/apps/v1", "replicasets", "offgridflow-api-1111111111")
    [(method, path, params, content_type, body)] = _writes(seeded.fake)
    assert (method, path, params, content_type) == (
        "PATCH",
        DEPLOYMENT_PATH,
        {},
        "application/json-patch+json",
    )
    expected_template = replica_set["spec"]["template"]
    assert expected_template["metadata"]["labels"] == {
        "app": "offgridflow-api",
        "pod-template-hash": "1111111111",
    }
    assert body[0]["op"] == "replace"
    assert body[0]["path"] == "/spec/template"
    assert body[0]["value"]["metadata"]["labels"] == {"app": "offgridflow-api"}  # hash label dropped
    assert body[0]["value"]["spec"] == expected_template["spec"]
    assert body[1] == {
        "op": "replace",
        "path": "/metadata/annotations",
        "value": {"deployment.kubernetes.io/revision": "2"},
    }
    assert _gets(seeded.fake) == [
        (DEPLOYMENT_PATH, {}),
        (f"/apis/apps/v1{NS}/replicasets", {"labelSelector": "app=offgridflow-api"}),
    ]
    images = [r.image.rsplit(":", 1)[1] for r in seeded.platform().rollout_history()]
    assert images == ["v1.3.0", "v1.2.3"]  # revision 1 came back as revision 3, like Kubernetes does


def test_rollout_undo_twice_goes_back_and_forth_like_kubectl(seeded):
    platform = seeded.platform()
    platform.rollout_undo()
    platform.rollout_undo()
    container = seeded.fake.get("apis/apps/v1", "deployments", "offgridflow-api")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["image"].endswith(":v1.3.0")


def test_restart_database_patches_the_statefulset_like_kubectl(seeded):
    seeded.platform().restart_database()
    [(method, path, params, content_type, body)] = _writes(seeded.fake)
    stamp = _restarted_at(body)
    assert (method, path, params, content_type) == (
        "PATCH",
        f"/apis/apps/v1{NS}/statefulsets/postgres",
        {"fieldManager": "kubectl-rollout"},
        STRATEGIC,
    )
    assert body == {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}


def test_kill_database_deletes_the_postgres_pods_with_one_second_of_grace_never_forced(seeded):
    seeded.platform().kill_database()
    assert _writes(seeded.fake) == [
        (
            "DELETE",
            f"/api/v1{NS}/pods/postgres-0",
            {},
            "application/json",
            {"gracePeriodSeconds": 1, "propagationPolicy": "Background"},
        )
    ]
    assert _gets(seeded.fake) == [(f"/api/v1{NS}/pods", {"labelSelector": "app=postgres"})]
    assert seeded.fake.get("api/v1", "pods", "postgres-0") is None


@pytest.mark.parametrize(
    ("previous", "query"),
    [
        (False, {"container": "api", "tailLines": "100"}),
        (True, {"container": "api", "tailLines": "100", "previous": "true"}),
    ],
)
def test_logs_are_kubectl_logs_by_label(seeded, previous, query):
    seeded.platform().api_logs(tail=100, previous=previous)
    assert _gets(seeded.fake) == [
        (f"/api/v1{NS}/pods", {"labelSelector": "app=offgridflow-api"}),
        (f"/api/v1{NS}/pods/offgridflow-api-1/log", query),
    ]
    assert seeded.fake.writes() == []


def test_pg_isready_is_kubectl_exec_over_websocket(seeded):
    seeded.platform().pg_isready()
    [exec_request] = [r for r in seeded.fake.requests if r.path.endswith("/exec")]
    assert exec_request.path == f"/api/v1{NS}/pods/offgridflow-api-1/exec"
    assert exec_request.query == {
        "command": ["pg_isready", "-h", "postgres-service", "-p", "5432"],
        "container": ["api"],
        "stderr": ["true"],
        "stdout": ["true"],
    }


@pytest.mark.parametrize(
    ("operation", "expected_gets"),
    [
        ("api_workloads", [(f"/api/v1{NS}/pods", {"labelSelector": "app=offgridflow-api"})]),
        ("database_workloads", [(f"/api/v1{NS}/pods", {"labelSelector": "app=postgres"})]),
        ("events", [(f"/api/v1{NS}/events", {})]),
        (
            "network",
            [
                (f"/apis/networking.k8s.io/v1{NS}/ingresses", {}),
                (f"/api/v1{NS}/endpoints/offgridflow-api-service", {}),
                (f"/api/v1{NS}/services/offgridflow-api-service", {}),
                (f"/api/v1{NS}/pods", {"labelSelector": "app=offgridflow-api"}),
            ],
        ),
        ("rollout_status", [(DEPLOYMENT_PATH, {})]),
        (
            "rollout_history",
            [
                (DEPLOYMENT_PATH, {}),
                (f"/apis/apps/v1{NS}/replicasets", {"labelSelector": "app=offgridflow-api"}),
                (f"/api/v1{NS}/configmaps/offgridflow-config", {}),
                (f"/api/v1{NS}/configmaps/offgridflow-config", {}),
            ],
        ),
        ("config", [(DEPLOYMENT_PATH, {}), (f"/api/v1{NS}/configmaps/offgridflow-config", {})]),
    ],
)
def test_reads_are_kubectls_gets_and_change_nothing(seeded, operation, expected_gets):
    getattr(seeded.platform(), operation)()
    assert _gets(seeded.fake) == expected_gets
    assert seeded.fake.writes() == []


def test_top_reads_the_metrics_api_by_label(seeded):
    seeded.add_pod_metrics("offgridflow-api-1", memory="100Mi", cpu="10m")
    seeded.platform().resource_usage()
    assert _gets(seeded.fake)[0] == (
        f"/apis/metrics.k8s.io/v1beta1{NS}/pods",
        {"labelSelector": "app=offgridflow-api"},
    )


def test_set_selector_is_kubectl_patch_replacing_spec_selector_whole(seeded):
    broken = {"app": "offgridflow-api", "offgridflow.io/chaos": "network"}
    seeded.platform().set_api_service_selector(broken)
    assert _writes(seeded.fake) == [
        (
            "PATCH",
            f"/api/v1{NS}/services/offgridflow-api-service",
            {"fieldManager": "kubectl-patch"},
            "application/json-patch+json",
            [{"op": "replace", "path": "/spec/selector", "value": broken}],
        )
    ]
    seeded.fake.requests.clear()
    seeded.platform().set_api_service_selector({"app": "offgridflow-api"})  # the old key goes
    service = seeded.fake.get("api/v1", "services", "offgridflow-api-service")
    assert service["spec"]["selector"] == {"app": "offgridflow-api"}
    seeded.fake.requests.clear()
    seeded.platform().set_api_service_selector({"app": "offgridflow-api"})  # already so: nothing sent
    assert seeded.fake.writes() == []
