"""A synthetic user during an experiment: reads ``/health/ready`` and ``GET /v1/activities?limit=1``
every ``interval`` seconds, so the scorecard's outage is what a client saw, not what a probe assumed.

Each read is a new client on a new connection: a Service whose endpoints vanish (the network mode)
still serves the connections already open to its pods (the node's connection tracking keeps them),
so a synthetic user on one kept-alive connection saw 0.4 s of a 14 s outage on kind, while every
new client was turned away."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from offgridflow_runbook.probes.http import ApiProbe, ProbeError
from offgridflow_runbook.targets import Target

__all__ = ["AvailabilityProbe", "Outage", "outages"]


@dataclass
class Outage:
    """Failed reads between ``started`` and ``ended`` (Unix times)."""

    started: float
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class _Samples:
    points: list[tuple[float, bool]] = field(default_factory=list)


class AvailabilityProbe:
    """Polls the API in a thread, bounded by ``max_seconds``; :meth:`stop` returns the outages."""

    def __init__(self, target: Target, *, interval: float = 0.25, max_seconds: float = 600.0) -> None:
        self.target = target
        self.interval = interval
        self.max_seconds = max_seconds
        self._samples = _Samples()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="availability", daemon=True)

    def __enter__(self) -> AvailabilityProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> list[Outage]:
        self._stop.set()
        self._thread.join(10.0)
        return outages(self._samples.points)

    def _run(self) -> None:
        end = time.monotonic() + self.max_seconds
        with ApiProbe(self.target, timeout=1.0, keep_alive=False) as api:
            while not self._stop.is_set() and time.monotonic() < end:
                self._samples.points.append((time.time(), _serving(api)))
                self._stop.wait(self.interval)


def _serving(api: ApiProbe) -> bool:
    try:
        ready = api.ready()
        listing = api.activities(limit=1)
    except ProbeError:
        return False
    return ready.status == 200 and listing.status == 200


def outages(points: list[tuple[float, bool]]) -> list[Outage]:
    """Runs of failed samples; each runs from its first failure to the next success (or last sample)."""
    found: list[Outage] = []
    started: float | None = None
    for at, ok in sorted(points):
        if not ok and started is None:
            started = at
        elif ok and started is not None:
            found.append(Outage(started, at))
            started = None
    if started is not None:
        found.append(Outage(started, sorted(points)[-1][0]))
    return found
