"""``diagnose --record``: a recorded look reads back as the same look, and triage judges it alike."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from helpers.triage_fakes import (
    TOKEN,
    FakeHttp,
    FakePlatform,
    api_pod,
    crashed,
    event,
    look,
    make_target,
    rules_file,
)
from offgridflow_runbook.cli import main
from offgridflow_runbook.platforms import CommandResult
from offgridflow_runbook.probes import record
from offgridflow_runbook.probes.http import ProbeTimeout
from offgridflow_runbook.runbook.evidence import DEFAULT_SINCE
from offgridflow_runbook.runbook.triage import decide


def test_every_kind_of_read_survives_the_record_and_gives_the_same_verdict(tmp_path: Path) -> None:
    platform = FakePlatform(
        api=[api_pod(**crashed(78)), api_pod("offgridflow-api-2", waiting_reason="ErrImagePull")],
        previous_logs={"offgridflow-api-1": '{"event": "invalid configuration"}'},
        event_list=[event("Failed", 'Failed to pull image "x": manifest unknown')],
        pg_ready=CommandResult(("pg_isready",), 2, "no response"),
    )
    http = FakeHttp(live=httpx.ReadTimeout("timed out"), prometheus_down=True)
    observations = look(make_target(), http, platform, rules=rules_file(tmp_path))
    path = record.save(observations, tmp_path / "look.json")

    replayed, raw = record.load(path)
    assert replayed.api_workloads.value == observations.api_workloads.value
    assert replayed.events.value == observations.events.value
    assert isinstance(replayed.live.error, ProbeTimeout)
    assert replayed.alerts.problem == observations.alerts.problem
    assert replayed.metrics.value == observations.metrics.value
    assert decide(replayed).as_dict() == decide(observations).as_dict()
    assert raw["target"]["token_set"] is True


def test_the_token_never_reaches_the_record(tmp_path: Path) -> None:
    # an answer that echoes the token must not carry it into the file
    http = FakeHttp(ready=(503, {"status": "unhealthy", "reason": f"bad header Bearer {TOKEN}"}))
    observations = look(make_target(), http, FakePlatform(), rules=rules_file(tmp_path))
    text = record.save(observations, tmp_path / "look.json").read_text()
    assert TOKEN not in text
    assert "Bearer ***" in text


def test_a_file_that_is_not_a_recorded_look_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(record.RecordError, match=r"other\.json: not a recorded look"):
        record.load(path)
    with pytest.raises(record.RecordError, match="cannot read the recorded look"):
        record.load(tmp_path / "missing.json")


STALE = Path(__file__).parent / "scenarios" / "docker" / "only-stale-events.json"


def test_the_window_a_look_was_judged_with_is_kept_and_used_again_from_the_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # recorded on the real stack with --since 5m: its OOM kills and pull failures were all older
    assert record.since_of(json.loads(STALE.read_text()), DEFAULT_SINCE).total_seconds() == 300
    assert main(["diagnose", "--from-record", str(STALE), "--json"]) == 0
    judged = json.loads(capsys.readouterr().out)
    assert judged["outcome"] == "healthy"
    assert "older than --since 5m not weighed" in json.dumps(judged)
    # asked with another window, the same look weighs those events (as history of gone instances)
    main(["diagnose", "--from-record", str(STALE), "--since", "1h", "--json"])
    assert "older than --since" not in capsys.readouterr().out


def test_a_record_made_before_the_window_was_kept_is_judged_with_the_default_hour() -> None:
    assert record.since_of({"format": record.RECORD_FORMAT}, DEFAULT_SINCE).total_seconds() == 3600
