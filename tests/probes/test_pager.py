"""The pager's path read over real sockets: Alertmanager and the alert receiver up, down, or answering
garbage, as the one look, `diagnose` and the "pages can be delivered" check see them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from helpers.local_http import serving
from offgridflow_runbook.cli import main
from offgridflow_runbook.probes.http import ApiProbe, ProbeError, Unreachable
from offgridflow_runbook.probes.pager import (
    RECEIVER_DELIVERIES,
    PagerUnusable,
    alertmanager_status,
    receiver_deliveries,
)
from offgridflow_runbook.probes.snapshot import look
from offgridflow_runbook.runbook.steps import Outcome, pages_deliverable
from offgridflow_runbook.targets import Target

ROOT = Path(__file__).resolve().parents[2]
HEALTHY = {"/health/live": {"status": "alive"}, "/health/ready": {"status": "healthy"}}
ALERTMANAGER = {"/api/v2/status": {"cluster": {"status": "ready"}, "config": {"original": "route: {}"}}}
RECEIVER: dict[str, object] = {RECEIVER_DELIVERIES: []}


def handler(
    routes: dict[str, object], *, status: int = 200, raw: str | None = None
) -> type[BaseHTTPRequestHandler]:
    """Answers ``routes`` (path -> JSON body) with ``status``; ``raw`` instead of JSON (garbage)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in routes:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = (raw if raw is not None else json.dumps(routes[self.path])).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


def closed_port() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# name -> (Alertmanager's handler or None for down, the receiver's, what the failure must say)
STATES: dict[str, tuple[type[BaseHTTPRequestHandler] | None, type[BaseHTTPRequestHandler] | None, str]] = {
    "both-up": (handler(ALERTMANAGER), handler(RECEIVER), ""),
    "alertmanager-down": (None, handler(RECEIVER), "Alertmanager: target 'pager': unreachable"),
    "receiver-down": (handler(ALERTMANAGER), None, "alert receiver: target 'pager': unreachable"),
    "alertmanager-garbage": (
        handler(ALERTMANAGER, raw="<html>not alertmanager</html>"),
        handler(RECEIVER),
        "not Alertmanager's status",
    ),
    "alertmanager-500": (handler(ALERTMANAGER, status=500), handler(RECEIVER), "(HTTP 500)"),
    "receiver-garbage": (
        handler(ALERTMANAGER),
        handler(RECEIVER, raw='{"not": "a list"}'),
        "not a JSON list",
    ),
    "receiver-not-json": (handler(ALERTMANAGER), handler(RECEIVER, raw="garbage"), "not a JSON list"),
}


@pytest.fixture(params=list(STATES))
def pager(request: pytest.FixtureRequest) -> Iterator[tuple[Target, str]]:
    """A target (platform none) whose API answers healthy and whose pager is in the state named."""
    alertmanager, receiver, failure = STATES[request.param]
    with ExitStack() as stack:
        api = stack.enter_context(serving(handler(HEALTHY)))
        urls = [
            stack.enter_context(serving(h)) if h is not None else closed_port()
            for h in (alertmanager, receiver)
        ]
        yield (
            Target(
                name="pager",
                platform="none",
                base_url=api,
                alertmanager_url=urls[0],
                alert_receiver_url=urls[1],
            ),
            failure,
        )


def write_targets(directory: Path, target: Target) -> Path:
    path = directory / "targets.yaml"
    path.write_text(
        "targets:\n  pager:\n    platform: none\n"
        f"    base_url: {target.base_url}\n"
        f"    alertmanager_url: {target.alertmanager_url}\n"
        f"    alert_receiver_url: {target.alert_receiver_url}\n"
    )
    return path


def test_the_reads_accept_what_the_services_send_and_refuse_the_rest() -> None:
    target = Target(name="pager", platform="none", base_url="http://127.0.0.1:9")
    with ExitStack() as stack:
        probe = stack.enter_context(ApiProbe(target, timeout=2))
        good_am = stack.enter_context(serving(handler(ALERTMANAGER)))
        good_rx = stack.enter_context(serving(handler(RECEIVER)))
        html = stack.enter_context(serving(handler({**ALERTMANAGER, **RECEIVER}, raw="<html/>")))
        assert alertmanager_status(probe, good_am).status == 200
        assert receiver_deliveries(probe, good_rx).status == 200
        with pytest.raises(PagerUnusable):
            alertmanager_status(probe, html)
        with pytest.raises(PagerUnusable):
            receiver_deliveries(probe, html)
        with pytest.raises(PagerUnusable, match="HTTP 404"):
            receiver_deliveries(probe, good_am)  # Alertmanager has no /deliveries
        with pytest.raises(Unreachable):
            alertmanager_status(probe, closed_port())


def test_the_look_diagnose_and_the_check_agree_on_the_pager(
    pager: tuple[Target, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target, failure = pager
    observations = look(target, platform=None, platform_reason="platform: none")
    step = pages_deliverable(observations)
    code = main(
        ["diagnose", "--target", "pager", "--targets-file", str(write_targets(tmp_path, target)), "--json"]
    )
    verdict = json.loads(capsys.readouterr().out)
    if not failure:
        assert step.outcome is Outcome.PASSED, step.message
        assert (code, verdict["outcome"]) == (0, "healthy")
        return
    assert step.outcome is Outcome.FAILED
    assert step.message.startswith("pages cannot be delivered: ")
    assert failure in step.message
    # nothing seen bad, but the pager is blind: inconclusive, with the reason, never healthy
    assert (code, verdict["outcome"]) == (4, "inconclusive")
    unknown = [line for line in verdict["unknown"] if "pages cannot be delivered" in line]
    assert unknown, verdict["unknown"]
    assert failure.split(": ", 1)[-1] in " ".join(unknown), verdict["unknown"]


def test_a_target_that_declares_no_pager_skips_the_check() -> None:
    with serving(handler(HEALTHY)) as api:
        observations = look(
            Target(name="quiet", platform="none", base_url=api), platform=None, platform_reason="none"
        )
    step = pages_deliverable(observations)
    assert step.outcome is Outcome.SKIPPED
    assert "declares no alertmanager_url" in step.message


def test_the_check_fails_with_the_reason_when_the_receiver_is_down(tmp_path: Path) -> None:
    with ExitStack() as stack:
        api = stack.enter_context(serving(handler(HEALTHY)))
        alertmanager = stack.enter_context(serving(handler(ALERTMANAGER)))
        target = Target(
            name="pager",
            platform="none",
            base_url=api,
            alertmanager_url=alertmanager,
            alert_receiver_url=closed_port(),
        )
        targets = write_targets(tmp_path, target)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                str(ROOT / "checks" / "test_paging.py"),
                "--target",
                "pager",
                "--targets-file",
                str(targets),
                "-p",
                "no:cacheprovider",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pages cannot be delivered: alert receiver: target 'pager': unreachable" in result.stdout


def test_a_probe_error_is_what_a_pager_failure_is() -> None:
    assert issubclass(PagerUnusable, ProbeError)  # a record keeps it and reads it back by its type


def test_a_recorded_look_keeps_the_pager_and_is_judged_the_same(
    pager: tuple[Target, str], tmp_path: Path
) -> None:
    from offgridflow_runbook.probes import record
    from offgridflow_runbook.runbook.triage import decide

    target, _ = pager
    observations = look(target, platform=None, platform_reason="platform: none")
    saved, _raw = record.load(record.save(observations, tmp_path / "look.json"))
    assert decide(saved).as_dict()["unknown"] == decide(observations).as_dict()["unknown"]
    assert decide(saved).outcome == decide(observations).outcome
