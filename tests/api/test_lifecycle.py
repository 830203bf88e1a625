"""Process lifecycle: graceful SIGTERM with the pool closed, and reconnection delays that back off."""

from __future__ import annotations

import json
import signal
from typing import TYPE_CHECKING

import pytest

from offgridflow_api.backoff import Backoff

if TYPE_CHECKING:
    from conftest import ApiFactory


@pytest.mark.integration
def test_sigterm_stops_the_service_cleanly_and_closes_the_pool(api_factory: ApiFactory) -> None:
    api = api_factory(wait="ready")
    # uvicorn re-raises the signal after its graceful shutdown, so the status says "ended by SIGTERM"
    assert api.stop(timeout=15) in (0, -signal.SIGTERM)
    events = [json.loads(line)["event"] for line in api.logs.splitlines() if line.startswith("{")]
    assert events.index("database pool closed") < events.index("service stopped")
    assert all(line.startswith("{") for line in api.logs.splitlines() if line), "every log line is JSON"


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(base_seconds=0.5, cap_seconds=4.0)
    for attempt, nominal in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (10, 4.0), (1000, 4.0)]:
        delays = {backoff.delay(attempt) for _ in range(50)}
        assert all(nominal / 2 <= delay <= nominal for delay in delays)
        assert len(delays) > 1, "jittered, so replicas do not retry in lock-step"
