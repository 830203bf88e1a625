"""A bounded background writer: posts activities while an experiment runs and remembers which
writes the API acknowledged (201 with an id), so that none of them may be missing afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from offgridflow_runbook.probes.http import ApiProbe, ProbeError
from offgridflow_runbook.targets import Target

__all__ = ["BackgroundWriter", "WriterResult"]


@dataclass
class WriterResult:
    acked_ids: list[int] = field(default_factory=list)
    failed: int = 0
    attempts: int = 0


class BackgroundWriter:
    """Posts an activity every ``interval`` s, at most ``max_writes`` times and ``max_seconds`` long."""

    def __init__(
        self,
        target: Target,
        *,
        max_writes: int,
        max_seconds: float,
        interval: float,
        source: str,
        on_ack: Callable[[int], None] | None = None,
    ) -> None:
        self.target = target
        self.max_writes = max_writes
        self.max_seconds = max_seconds
        self.interval = interval
        self.source = source
        # told each acknowledged id as it arrives (the fault ledger keeps them beyond this process)
        self.on_ack = on_ack
        self.result = WriterResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"writer-{source}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> WriterResult:
        """Stop and wait for the thread (bounded); the result so far."""
        self._stop.set()
        self._thread.join(timeout)
        with self._lock:
            return WriterResult(list(self.result.acked_ids), self.result.failed, self.result.attempts)

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        # a short timeout: a write stuck on a dead database must not stall the experiment's end
        with ApiProbe(self.target, timeout=3.0) as api:
            while not self._stop.is_set() and time.monotonic() < end:
                with self._lock:
                    if self.result.attempts >= self.max_writes:
                        return
                    self.result.attempts += 1
                acked = self._write_once(api)
                if acked is not None and self.on_ack is not None:
                    self.on_ack(acked)
                with self._lock:
                    if acked is None:
                        self.result.failed += 1
                    else:
                        self.result.acked_ids.append(acked)
                self._stop.wait(self.interval)

    def _write_once(self, api: ApiProbe) -> int | None:
        payload = {
            "source": self.source,
            "quantity": 1.0,
            "unit": "kWh",
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        try:
            answer = api.post_activity(payload)
        except ProbeError:
            return None
        body = answer.json()
        if answer.status == 201 and isinstance(body, dict) and isinstance(body.get("id"), int):
            return int(body["id"])
        return None
