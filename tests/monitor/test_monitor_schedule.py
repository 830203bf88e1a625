"""The schedule: a fixed rate measured on a fake clock, and never two runs at once."""

from __future__ import annotations

import pytest

from offgridflow_runbook.monitor.schedule import Schedule


class FakeTime:
    """A clock that moves only when a run takes time or the schedule waits."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return False


def schedule_of(durations: list[float], interval: float = 60.0) -> tuple[Schedule, list[float], FakeTime]:
    time = FakeTime()
    starts: list[float] = []
    active = [0]

    def run() -> None:
        active[0] += 1
        assert active[0] == 1, "two runs at once"
        starts.append(time.now)
        time.now += durations[len(starts) - 1]
        active[0] -= 1

    return Schedule(interval, run, time.wait, clock=time.clock), starts, time


def test_runs_start_on_a_fixed_rate_whatever_each_run_takes() -> None:
    schedule, starts, _ = schedule_of([0.5, 12.0, 3.0, 59.0, 0.0])
    assert schedule.loop(max_runs=5) == 5
    assert [start - starts[0] for start in starts] == [0.0, 60.0, 120.0, 180.0, 240.0]
    assert schedule.delayed == 0


def test_a_run_longer_than_the_interval_delays_the_next_instead_of_overlapping_it() -> None:
    schedule, starts, _ = schedule_of([1.0, 150.0, 1.0, 1.0])
    schedule.loop(max_runs=4)
    offsets = [start - starts[0] for start in starts]
    # the slow second run ends at 210: the third starts then (late), the fourth an interval later
    assert offsets == [0.0, 60.0, 210.0, 270.0]
    assert schedule.delayed == 1


def test_the_delay_is_reported_once_per_late_run() -> None:
    delayed: list[int] = []
    schedule, _, _ = schedule_of([90.0, 90.0, 1.0], interval=60.0)
    schedule.on_delayed = lambda: delayed.append(1)
    schedule.loop(max_runs=3)
    assert schedule.delayed == len(delayed) == 2


def test_a_stop_during_the_wait_ends_the_loop_after_the_current_run() -> None:
    time = FakeTime()
    runs: list[float] = []
    schedule = Schedule(30.0, lambda: runs.append(time.now), lambda seconds: len(runs) >= 2, clock=time.clock)
    assert schedule.loop() == 2


@pytest.mark.parametrize("interval", [0.0, -5.0])
def test_the_interval_must_be_positive(interval: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Schedule(interval, lambda: None, lambda seconds: True)
