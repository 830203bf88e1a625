"""Chaos assaults (as in Chaos Monkey for Spring Boot), only when OFFGRIDFLOW_CHAOS_ASSAULTS enables them.

The memory assault allocates N MiB inside the serving process and writes every page, so the memory is
resident (not just reserved): under a container limit below N the kernel OOM-kills the process.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from dataclasses import dataclass, field

from offgridflow_api.logs import get_logger, log_event

MIB = 1024 * 1024
MAX_MEMORY_MIB = 16 * 1024
MAX_HOLD_SECONDS = 300

logger = get_logger("assaults")


class AssaultInProgress(Exception):
    """A memory assault is already allocating or holding: one at a time."""


def resident_mib() -> float:
    """The process's current resident set size in MiB (from /proc, else the peak from getrusage)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def allocate_touched(mib: int) -> bytearray:
    """N MiB that are really resident: written one MiB at a time, so every page is faulted in."""
    buffer = bytearray(mib * MIB)
    chunk = b"\xa5" * MIB
    for offset in range(0, len(buffer), MIB):
        buffer[offset : offset + MIB] = chunk
    return buffer


@dataclass
class MemoryAssaults:
    """Holds the buffer of the running memory assault until its hold time ends. One assault at a
    time: two held at once would load the process with their sum, which no caller asked for."""

    held: dict[int, bytearray] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _next_id: int = 0
    _allocating: bool = False

    @property
    def busy(self) -> bool:
        """An assault is allocating or holding its memory."""
        return self._allocating or bool(self.held)

    async def start(self, mib: int, hold_seconds: float) -> dict[str, float | int]:
        """Allocate and hold; raises `AssaultInProgress` while another assault runs."""
        # checked and set with no await between: the event loop runs one request at a time here
        if self.busy:
            raise AssaultInProgress("a memory assault is already running; one at a time")
        self._allocating = True
        log_event(logger, logging.WARNING, "memory assault starting", mib=mib, hold_seconds=hold_seconds)
        try:
            buffer = await asyncio.to_thread(allocate_touched, mib)
        finally:
            self._allocating = False
        self._next_id += 1
        assault_id = self._next_id
        self.held[assault_id] = buffer
        task = asyncio.create_task(self._release_after(assault_id, hold_seconds))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        rss = resident_mib()
        log_event(logger, logging.WARNING, "memory assault holding", mib=mib, rss_mib=round(rss, 1))
        return {"assault_id": assault_id, "mib": mib, "hold_seconds": hold_seconds, "rss_mib": round(rss, 1)}

    async def _release_after(self, assault_id: int, hold_seconds: float) -> None:
        try:
            await asyncio.sleep(hold_seconds)
        finally:
            self.held.pop(assault_id, None)
            log_event(logger, logging.INFO, "memory assault released", assault_id=assault_id)

    async def stop_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.held.clear()
