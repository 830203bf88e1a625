"""Changes through the Kubernetes platform: bad config both ways, rollouts and waits with deadlines."""

from __future__ import annotations

import time

import pytest

from helpers import kube_fake_seed as seed
from offgridflow_runbook.platforms import PlatformError

BAD_CONFIG = {"OFFGRIDFLOW_DB_POOL_MAX": "lots"}


def test_hashed_configmap_update_creates_a_new_configmap_and_undo_restores_it(kube_fake):
    kube_fake.seed_runbook_namespace(hashed_config=True)
    platform = kube_fake.platform()
    platform.update_config(BAD_CONFIG)
    update = platform.last_config_update
    assert update is not None
    assert update.scheme == "hashed"
    assert update.undo_restores_config
    assert update.finding is None
    assert update.previous_config_map == "offgridflow-config-aaaaaaaaaa"
    assert update.config_map.startswith("offgridflow-config-")
    assert update.config_map != update.previous_config_map
    [create] = kube_fake.fake.find("POST", "/configmaps")
    assert create.params == {"fieldManager": "kubectl-create"}
    assert create.body["metadata"]["name"] == update.config_map
    assert create.body["data"]["OFFGRIDFLOW_DB_POOL_MAX"] == "lots"
    assert create.body["data"]["OFFGRIDFLOW_LOG_LEVEL"] == "INFO"  # the rest is carried over
    assert platform.config()["OFFGRIDFLOW_DB_POOL_MAX"] == "lots"
    assert platform.rollout_history()[-1].config["OFFGRIDFLOW_DB_POOL_MAX"] == "lots"

    platform.rollout_undo()
    assert platform.config()["OFFGRIDFLOW_DB_POOL_MAX"] == "10"


def test_in_place_configmap_edit_restarts_and_undo_does_not_restore_it(kube_fake):
    kube_fake.seed_runbook_namespace(hashed_config=False)
    platform = kube_fake.platform()
    assert platform.config_scheme() == "in-place"
    platform.update_config(BAD_CONFIG)
    update = platform.last_config_update
    assert update is not None
    assert update.scheme == "in-place"
    assert not update.undo_restores_config
    assert update.finding is not None
    assert "rollout undo" in update.finding
    assert "configMapGenerator" in update.finding
    [edit] = kube_fake.fake.find("PATCH", "/configmaps/offgridflow-config")
    assert (edit.content_type, edit.body) == ("application/strategic-merge-patch+json", {"data": BAD_CONFIG})
    [restart] = kube_fake.fake.find("PATCH", "/deployments/offgridflow-api")
    assert "kubectl.kubernetes.io/restartedAt" in restart.body["spec"]["template"]["metadata"]["annotations"]

    platform.rollout_undo()
    # The finding for the runbook's Fix 3: the previous revision reads the same, edited ConfigMap.
    assert platform.config()["OFFGRIDFLOW_DB_POOL_MAX"] == "lots"


def test_wait_rollout_returns_when_complete(kube_fake):
    kube_fake.seed_runbook_namespace()
    platform = kube_fake.platform()
    platform.set_image("127.0.0.1:5000/offgridflow-api:v1.2.3")
    status = platform.wait_rollout(timeout=5)
    assert status.complete
    assert status.message == 'deployment "offgridflow-api" successfully rolled out'


def test_wait_rollout_stops_at_the_deadline_when_the_rollout_stalls(kube_fake):
    kube_fake.seed_runbook_namespace()
    kube_fake.fake.rollouts_succeed = False
    platform = kube_fake.platform()
    platform.set_image("127.0.0.1:5000/offgridflow-api:v9.9.9")
    started = time.monotonic()
    status = platform.wait_rollout(timeout=1.5)
    elapsed = time.monotonic() - started
    assert not status.complete
    assert 1.4 <= elapsed < 5
    assert status.message == (
        'Waiting for deployment "offgridflow-api" rollout to finish: '
        "1 out of 2 new replicas have been updated..."
    )


def test_wait_rollout_gives_up_at_once_on_progress_deadline_exceeded(kube_fake):
    kube_fake.seed_runbook_namespace()
    deployment = kube_fake.fake.get("apis/apps/v1", "deployments", "offgridflow-api")
    deployment["status"]["conditions"] = [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    ]
    started = time.monotonic()
    status = kube_fake.platform().wait_rollout(timeout=30)
    assert time.monotonic() - started < 5
    assert not status.complete
    assert status.message == 'deployment "offgridflow-api" exceeded its progress deadline'


def test_rollout_status_waits_for_the_spec_to_be_observed(kube_fake):
    kube_fake.seed_runbook_namespace()
    deployment = kube_fake.fake.get("apis/apps/v1", "deployments", "offgridflow-api")
    deployment["metadata"]["generation"] = 5
    status = kube_fake.platform().rollout_status()
    assert not status.complete
    assert status.message == "Waiting for deployment spec update to be observed..."


def test_rollout_status_carries_the_deployments_replica_failure_while_its_controller_is_refused(kube_fake):
    kube_fake.seed_runbook_namespace()
    deployment = kube_fake.fake.get("apis/apps/v1", "deployments", "offgridflow-api")
    deployment["spec"]["replicas"] = 3  # one more than the quota lets the controller create
    refused = 'pods "offgridflow-api-7d9f-x2" is forbidden: exceeded quota: offgridflow-pods'
    conditions = deployment["status"].setdefault("conditions", [])
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": refused}
    conditions.append(failure)
    status = kube_fake.platform().rollout_status()
    assert not status.complete
    assert status.failure == f"FailedCreate: {refused}"
    conditions[-1]["status"] = "False"  # as the controller leaves it once a pod was made
    assert kube_fake.platform().rollout_status().failure is None


def test_undo_without_history_says_so(kube_fake):
    kube_fake.seed_runbook_namespace()
    for key in [k for k in kube_fake.fake.objects if k[1] == "replicasets"]:
        del kube_fake.fake.objects[key]
    with pytest.raises(PlatformError, match="no rollout history"):
        kube_fake.platform().rollout_undo()


def test_restart_of_a_paused_deployment_is_refused_like_kubectl(kube_fake):
    kube_fake.seed_runbook_namespace()
    kube_fake.fake.get("apis/apps/v1", "deployments", "offgridflow-api")["spec"]["paused"] = True
    with pytest.raises(PlatformError, match="paused"):
        kube_fake.platform().rollout_restart()
    assert kube_fake.fake.writes() == []


def test_wait_database_ready_passes_when_postgres_is_ready(kube_fake):
    kube_fake.seed_runbook_namespace()
    kube_fake.platform().wait_database_ready(timeout=5)


def test_wait_database_ready_times_out_with_the_reason(kube_fake):
    kube_fake.seed_runbook_namespace()
    pod = kube_fake.fake.get("api/v1", "pods", "postgres-0")
    pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    started = time.monotonic()
    with pytest.raises(PlatformError, match=r"postgres not ready after 1s: 0 of 1 postgres pods ready"):
        kube_fake.platform().wait_database_ready(timeout=1.0)
    assert time.monotonic() - started < 5


def test_a_ready_postgres_pod_its_service_does_not_route_to_yet_is_not_ready(kube_fake):
    # the endpoints controller still lists the pod the new one replaced (or nothing): the API's
    # pg_isready -h postgres-service answers "no response" although the pod is Ready
    kube_fake.seed_runbook_namespace()
    endpoints = kube_fake.fake.get("api/v1", "endpoints", "postgres-service")
    endpoints["subsets"][0]["addresses"][0]["targetRef"]["uid"] = "the-replaced-pod"
    with pytest.raises(
        PlatformError, match=r"not ready after 1s: service postgres-service does not route to postgres-0"
    ):
        kube_fake.platform().wait_database_ready(timeout=1.0)
    del kube_fake.fake.objects[("api/v1", "endpoints", "offgridflow", "postgres-service")]
    with pytest.raises(PlatformError, match="service postgres-service does not route to postgres-0 yet"):
        kube_fake.platform().wait_database_ready(timeout=0.5)


def test_restart_database_starts_a_scaled_down_statefulset(kube_fake):
    kube_fake.seed_runbook_namespace()
    kube_fake.fake.get("apis/apps/v1", "statefulsets", "postgres")["spec"]["replicas"] = 0
    kube_fake.platform().restart_database()
    [patch] = kube_fake.fake.find("PATCH", "/statefulsets/postgres")
    assert patch.body["spec"]["replicas"] == 1


def test_adopting_an_in_place_configmap_switches_update_config_to_in_place(kube_fake):
    kube_fake.seed_runbook_namespace(hashed_config=True)
    hashed = kube_fake.fake.get("api/v1", "configmaps", "offgridflow-config-aaaaaaaaaa")
    hashed["metadata"]["labels"] = {"app.kubernetes.io/name": "offgridflow-config"}
    platform = kube_fake.platform()
    platform.adopt_in_place_config()
    plain = kube_fake.fake.get("api/v1", "configmaps", "offgridflow-config")
    assert plain is not None
    assert plain["data"] == hashed["data"]
    assert plain["metadata"]["labels"] == {"app.kubernetes.io/name": "offgridflow-config"}
    assert platform.config_scheme() == "in-place"

    platform.update_config(BAD_CONFIG)
    assert platform.last_config_update is not None
    assert platform.last_config_update.scheme == "in-place"
    platform.rollout_undo()  # back to the adopting revision, which reads the same, edited ConfigMap
    assert platform.config_scheme() == "in-place"
    assert platform.config()["OFFGRIDFLOW_DB_POOL_MAX"] == "lots"
    assert [r.config.get("OFFGRIDFLOW_DB_POOL_MAX") for r in platform.rollout_history()][-2:] == [
        "lots",
        "lots",
    ]


def test_hashed_update_keeps_the_configmaps_labels(kube_fake):
    kube_fake.seed_runbook_namespace(hashed_config=True)
    labels = {"app.kubernetes.io/name": "offgridflow-config", "app.kubernetes.io/part-of": "offgridflow"}
    kube_fake.fake.get("api/v1", "configmaps", "offgridflow-config-aaaaaaaaaa")["metadata"]["labels"] = labels
    platform = kube_fake.platform()
    platform.update_config(BAD_CONFIG)
    [create] = kube_fake.fake.find("POST", "/configmaps")
    assert create.body["metadata"]["labels"] == labels
    platform.update_config(BAD_CONFIG)  # same data again: the same name, nothing new created
    assert len(kube_fake.fake.find("POST", "/configmaps")) == 1


def test_reactions_let_a_test_play_the_statefulset_controller(kube_fake):
    kube_fake.seed_runbook_namespace()
    recreated = []

    def statefulset_controller(fake, request):
        if request.method == "DELETE" and request.path.endswith("/pods/postgres-0"):
            pod = seed.add_pod(
                fake, "postgres-0", app="postgres", spec_container=seed.container(name="postgres")
            )
            recreated.append(pod["metadata"]["uid"])
            seed.route_database_to(fake, pod)  # and the endpoints controller's part

    kube_fake.fake.reactions.append(statefulset_controller)
    platform = kube_fake.platform()
    before = kube_fake.fake.get("api/v1", "pods", "postgres-0")["metadata"]["uid"]
    platform.kill_database()
    platform.wait_database_ready(timeout=5)
    assert recreated
    assert recreated[0] != before


def test_undo_onto_the_same_template_is_skipped_like_kubectl(kube_fake):
    kube_fake.seed_runbook_namespace()
    platform = kube_fake.platform()
    platform.rollout_undo()
    assert platform.last_undo == "rolled back to the template of revision 1"
    deployment = kube_fake.fake.get("apis/apps/v1", "deployments", "offgridflow-api")
    # Make the previous revision's template equal the current one: kubectl then changes nothing.
    for replica_set in kube_fake.fake.of_kind("apis/apps/v1", "replicasets"):
        labels = replica_set["spec"]["template"]["metadata"]["labels"]
        replica_set["spec"]["template"] = {
            **deployment["spec"]["template"],
            "metadata": {"labels": {**labels}},
        }
    writes_before = len(kube_fake.fake.writes())
    platform.rollout_undo()
    assert platform.last_undo is not None
    assert platform.last_undo.startswith("skipped rollback (current template already matches revision")
    assert len(kube_fake.fake.writes()) == writes_before


def test_setting_the_image_it_already_runs_sends_nothing_like_kubectl(kube_fake):
    kube_fake.seed_runbook_namespace()
    kube_fake.platform().set_image("127.0.0.1:5000/offgridflow-api:v1.3.0")
    assert kube_fake.fake.writes() == []
