"""The local stack's event recorder serves the kube-state-metrics series the alert rules read."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from helpers.deploy_files import REPO_ROOT

T0 = 1_700_000_000.0
BACKOFF_S = 10.0  # the stalled rollout's backoff_at, as the docker driver writes it


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO_ROOT / "deploy/docker"))  # stack_engine.py, as in the image
    spec = importlib.util.spec_from_file_location(
        "event_recorder", REPO_ROOT / "deploy/docker/event_recorder.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ROLLOUT_FILE", str(tmp_path / "api-rollout.json"))
    monkeypatch.setattr(module, "SERVICE_FILE", str(tmp_path / "api-service.json"))
    return module


def event(action: str, at: float, exit_code: str = "") -> dict[str, object]:
    attributes = {"name": "offgridflow-api", **({"exitCode": exit_code} if exit_code else {})}
    return {"Action": action, "Actor": {"ID": "c1", "Attributes": attributes}, "timeNano": int(at * 1e9)}


def test_an_oom_event_with_the_die_is_an_oomkilled_termination(recorder: ModuleType) -> None:
    recorder.note(event("oom", T0))
    recorder.note(event("die", T0 + 0.2, "137"))
    assert recorder.TERMINATIONS["c1"]["reason"] == "OOMKilled"


def test_an_oom_event_after_the_die_still_names_the_kill(recorder: ModuleType) -> None:
    recorder.note(event("die", T0, "137"))
    recorder.note(event("oom", T0 + 0.5))
    assert recorder.TERMINATIONS["c1"]["reason"] == "OOMKilled"


def test_a_die_long_after_an_earlier_oom_is_an_error(recorder: ModuleType) -> None:
    recorder.note(event("oom", T0))
    recorder.note(event("die", T0 + recorder.OOM_DIE_SECONDS + 1, "78"))
    assert recorder.TERMINATIONS["c1"]["reason"] == "Error"


def test_a_removed_container_has_no_last_termination(recorder: ModuleType) -> None:
    recorder.note(event("die", T0, "0"))
    recorder.note(event("destroy", T0 + 1))
    assert "c1" not in recorder.TERMINATIONS


def test_the_terminations_are_rebuilt_from_the_recorded_events(recorder: ModuleType, tmp_path: Path) -> None:
    recorded = tmp_path / "engine-events.jsonl"
    recorded.write_text("".join(json.dumps(e) + "\n" for e in (event("oom", T0), event("die", T0, "137"))))
    recorder.replay(str(recorded))
    assert recorder.TERMINATIONS["c1"]["reason"] == "OOMKilled"


def rollout(path: Path, *, deployed: int, latest: int, stalled_since: float | None) -> None:
    stalled = (
        {"revision": str(latest), "since": str(stalled_since), "backoff_at": str(stalled_since + BACKOFF_S)}
        if stalled_since is not None
        else None
    )
    revisions = [{"number": number} for number in range(1, latest + 1)]
    path.write_text(json.dumps({"revisions": revisions, "deployed": deployed, "stalled": stalled}))


def test_a_stalled_pull_is_a_pod_waiting_on_its_image_and_a_rollout_not_updated(
    recorder: ModuleType, tmp_path: Path
) -> None:
    rollout(tmp_path / "api-rollout.json", deployed=2, latest=3, stalled_since=T0)
    lines = recorder._rollout_series(T0 + 1)
    assert (
        'kube_deployment_status_replicas_updated{namespace="offgridflow",deployment="offgridflow-api"} 0'
        in lines
    )
    assert (
        'kube_pod_container_status_waiting_reason{namespace="offgridflow",pod="offgridflow-api-rev3",'
        'container="api",reason="ErrImagePull"} 1'
    ) in lines
    later = recorder._rollout_series(T0 + BACKOFF_S)
    assert any('reason="ImagePullBackOff"' in line for line in later)


def test_a_completed_rollout_has_every_replica_updated_and_nothing_waiting(
    recorder: ModuleType, tmp_path: Path
) -> None:
    rollout(tmp_path / "api-rollout.json", deployed=3, latest=3, stalled_since=None)
    lines = recorder._rollout_series(T0)
    assert (
        'kube_deployment_status_replicas_updated{namespace="offgridflow",deployment="offgridflow-api"} 1'
        in lines
    )
    assert not any("waiting_reason" in line for line in lines)


def test_no_rollout_file_reports_no_rollout_series(recorder: ModuleType) -> None:
    assert recorder._rollout_series(T0) == []


def engine(containers: dict[str, dict[str, object]]) -> object:
    """The engine's ``/containers/json`` and ``/containers/<id>/json`` answers for ``containers``
    (name: {"labels", "health"}), all running."""

    def get(path: str) -> object:
        if path.startswith("/containers/json"):
            return [{"Id": name} for name in containers]
        name = path.split("/")[2]
        seen = containers[name]
        state = {"Running": True, "Restarting": False, "Health": {"Status": seen["health"]}}
        return {
            "Id": name,
            "Name": f"/{name}",
            "Config": {"Labels": seen["labels"]},
            "State": state,
            "RestartCount": 0,
        }

    return get


API_LABELS = {"com.offgridflow.stack": "local", "app": "offgridflow-api"}
SERVICE = 'namespace="offgridflow",endpoint="offgridflow-api-service"'


def served(recorder: ModuleType, monkeypatch: pytest.MonkeyPatch, health: str = "healthy") -> list[str]:
    containers = {
        "offgridflow-api": {"labels": API_LABELS, "health": health},
        "postgres": {"labels": {"com.offgridflow.stack": "local", "app": "postgres"}, "health": "healthy"},
    }
    monkeypatch.setattr(recorder, "_engine_get", engine(containers))
    return [line for line in recorder.restart_metrics().splitlines() if line.startswith("kube_endpoint")]


def test_the_service_selecting_the_ready_api_has_one_available_address(
    recorder: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no api-service.json: the selector the stack is created with
    assert served(recorder, monkeypatch) == [
        f"kube_endpoint_info{{{SERVICE}}} 1",
        f"kube_endpoint_address_available{{{SERVICE}}} 1",
        f"kube_endpoint_address_not_ready{{{SERVICE}}} 0",
        f'kube_endpoint_address{{{SERVICE},ip="127.0.0.1",ready="true"}} 1',
    ]


def test_a_selector_matching_no_container_leaves_the_service_without_addresses(
    recorder: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    selector = {"app": "offgridflow-api", "offgridflow.io/chaos": "network"}
    (tmp_path / "api-service.json").write_text(json.dumps({"selector": selector}))
    assert served(recorder, monkeypatch) == [
        f"kube_endpoint_info{{{SERVICE}}} 1",
        f"kube_endpoint_address_available{{{SERVICE}}} 0",
        f"kube_endpoint_address_not_ready{{{SERVICE}}} 0",
    ]


def test_a_selected_container_that_is_not_healthy_is_a_not_ready_address(
    recorder: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = served(recorder, monkeypatch, health="unhealthy")
    assert f"kube_endpoint_address_available{{{SERVICE}}} 0" in lines
    assert f"kube_endpoint_address_not_ready{{{SERVICE}}} 1" in lines
    assert f'kube_endpoint_address{{{SERVICE},ip="127.0.0.1",ready="false"}} 1' in lines


def test_an_unreadable_selector_reports_no_endpoint_series(
    recorder: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "api-service.json").write_text("{not json")
    assert served(recorder, monkeypatch) == []
