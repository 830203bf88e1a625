"""A platform that rolls images out and an OffGridFlow API on 127.0.0.1 that serves whichever image
that platform runs, for the deploy gate's tests.

``RollingPlatform`` extends ``RecordingPlatform``: ``set_image`` adds a revision; an image in its
``registry`` becomes the running one (the rollout completes), any other stalls like a missing tag
(the old instance keeps serving, a pending one shows ``ErrImagePull``). ``rollout_undo`` brings the
previous revision's image back as a new revision. ``serving_api(platform)`` answers
``/v1/activities`` with 500 while the running image is in ``platform.broken``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from helpers.chaos_fakes import RecordingPlatform
from helpers.local_http import serving
from offgridflow_runbook.platforms import PlatformError, Revision, RolloutStatus, Workload

TOKEN = "gate-test-token-0123456789"
TOKEN_ENV = "GATE_TEST_TOKEN"
REPOSITORY = "127.0.0.1:5000/offgridflow-api"
GOOD = f"{REPOSITORY}:v1.3.0"
OLDER = f"{REPOSITORY}:v1.2.3"
BROKEN = f"{REPOSITORY}:v1.3.1-broken-activities"
MISSING = f"{REPOSITORY}:v9.9.9-missing"


@dataclass
class RollingPlatform(RecordingPlatform):
    registry: set[str] = field(default_factory=lambda: {GOOD, OLDER, BROKEN})
    broken: set[str] = field(default_factory=lambda: {BROKEN})
    running: str = GOOD
    undo_error: str | None = None  # rollout_undo raises PlatformError with this message
    history: list[Revision] = field(default_factory=lambda: [Revision(1, GOOD, "512Mi", "256Mi")])

    @property
    def template(self) -> str:
        return self.history[-1].image

    def _roll_to(self, image: str) -> None:
        self.history.append(Revision(self.history[-1].number + 1, image, "512Mi", "256Mi"))
        if image in self.registry:
            self.running = image

    def api_workloads(self) -> list[Workload]:
        serving = Workload("offgridflow-api-1", "offgridflow-api", "Running", True, 0, self.running)
        if self.template == self.running:
            return [serving]
        pending = Workload(
            "offgridflow-api-2", "offgridflow-api", "Pending", False, 0, self.template,
            waiting_reason="ErrImagePull", waiting_message="manifest unknown",
        )  # fmt: skip
        return [serving, pending]

    def rollout_status(self) -> RolloutStatus:
        if self.template == self.running:
            return RolloutStatus(True, 1, 1, 1, 'deployment "offgridflow-api" successfully rolled out')
        return RolloutStatus(
            False, 1, 0, 1, "Waiting for rollout to finish: 0 of 1 updated replicas are available..."
        )

    def wait_rollout(self, timeout: float = 120.0) -> RolloutStatus:
        self.calls.append("wait_rollout")
        if not self.rollout_status().complete:
            time.sleep(timeout)  # as a real wait: a stalled rollout uses the whole slice
        return self.rollout_status()

    def set_image(self, image: str) -> None:
        self.calls.append(f"set_image {image}")
        if image != self.template:
            self._roll_to(image)

    def rollout_undo(self) -> None:
        self.calls.append("rollout_undo")
        if self.undo_error is not None:
            raise PlatformError(self.undo_error)
        if len(self.history) < 2:
            raise PlatformError("rollout undo: no previous revision")
        self._roll_to(self.history[-2].image)


@contextmanager
def serving_api(platform: RollingPlatform) -> Iterator[str]:
    """The API as the running image answers: healthy, or 500 on /v1/activities for a broken build."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, data: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            for header, value in (("Content-Type", content_type), ("Content-Length", str(len(data)))):
                self.send_header(header, value)
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, status: int, body: object) -> None:
            self._send(status, json.dumps(body).encode())

        def _activities(self, created: bool) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._answer(401, {"detail": "unauthorized"})
            elif platform.running in platform.broken:
                self._answer(500, {"detail": "Internal Server Error"})
            elif created:
                self._answer(201, {"id": 7})
            else:
                self._answer(200, {"items": [{"id": 7}], "count": 1, "limit": 1})

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/health/live":
                self._answer(200, {"status": "alive"})
            elif path == "/health/ready":
                self._answer(200, {"status": "healthy", "checks": {"database": "ok"}})
            elif path == "/v1/activities":
                self._activities(created=False)
            elif path == "/metrics":
                self._send(200, b'http_requests_total{path="/health/live",status="200"} 3.0\n', "text/plain")
            else:
                self._answer(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.split("?", 1)[0] == "/v1/activities":
                self._activities(created=True)
            else:
                self._answer(404, {"detail": "Not Found"})

        def log_message(self, *args: object) -> None:  # keep pytest's output clean
            pass

    with serving(Handler) as url:
        yield url


def targets_yaml(base_url: str) -> str:
    """Targets ``fake`` (allows writes) and ``readonly`` on the API at ``base_url``. Their platform is
    ``none``: the gate's platform is given to it, and the checks' subprocess reads the API only."""
    return (
        "targets:\n  fake:\n    platform: none\n"
        f"    base_url: {base_url}\n    metrics_url: {base_url}/metrics\n"
        f"    token_env: {TOKEN_ENV}\n    allow_writes: true\n"
        "  readonly:\n    platform: none\n"
        f"    base_url: {base_url}\n    token_env: {TOKEN_ENV}\n    allow_writes: false\n"
    )
