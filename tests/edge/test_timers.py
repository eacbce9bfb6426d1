"""TimerRunner against a fake wall clock: fire times, poke, clock jumps, failures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lightbox.edge.timers import TimerRunner
from lightbox.protocol.library import Schedule
from lightbox.protocol.settings import Location

T0 = datetime(2026, 5, 4, 6, 59, tzinfo=UTC)


def sched(at: str, sid: str) -> Schedule:
    data: dict[str, Any] = {
        "id": sid,
        "name": sid,
        "trigger": {"type": "time", "at": at},
        "action": {"type": "set", "power": True},
    }
    return Schedule.model_validate(data)


class FakeClock:
    """A wall clock the test moves. ``sleep`` waits for simulated time, like a real one.

    :meth:`advance` moves time forward waking sleepers at their deadlines, as a running
    clock would; :meth:`jump` sets the wall clock without waking anyone, as an NTP step
    does (a monotonic sleep does not notice it).
    """

    def __init__(self, start: datetime) -> None:
        self.t = start
        self.sleepers: list[tuple[datetime, asyncio.Future[None]]] = []
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        item = (self.t + timedelta(seconds=seconds), future)
        self.sleepers.append(item)
        try:
            await future
        finally:
            self.sleepers.remove(item)

    async def idle(self, sleeps_before: int = -1) -> None:
        """Let the runner run until it sleeps again (after more than ``sleeps_before``)."""
        for _ in range(10_000):
            await asyncio.sleep(0)
            if (
                len(self.sleeps) > sleeps_before
                and self.sleepers
                and not any(f.done() for _, f in self.sleepers)
            ):
                return
        raise AssertionError("the runner never went back to sleep")

    async def advance(self, seconds: float) -> None:
        end = self.t + timedelta(seconds=seconds)
        while True:
            waiting = [(d, f) for d, f in self.sleepers if d <= end and not f.done()]
            if not waiting:
                break
            deadline, future = min(waiting, key=lambda item: item[0])
            self.t = max(self.t, deadline)
            future.set_result(None)
            await self.idle()
        self.t = end

    def jump(self, to: datetime) -> None:
        self.t = to

    @property
    def wake_at(self) -> datetime:
        return min(d for d, _ in self.sleepers)


class Harness:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.schedules: list[Schedule] = []
        self.fired: list[tuple[str, datetime, datetime]] = []  # (id, scheduled, clock)
        self.deadline: datetime | None = None
        self.playlist_calls: list[datetime] = []
        self.fail: Callable[[Schedule], bool] = lambda _: False
        self.context_error: Exception | None = None

    async def fire(self, schedule: Schedule, at: datetime) -> None:
        self.fired.append((schedule.id, at, self.clock.t))
        if self.fail(schedule):
            raise RuntimeError(f"boom {schedule.id}")

    def context(self) -> tuple[str, Location | None]:
        if self.context_error is not None:
            error, self.context_error = self.context_error, None
            raise error
        return "UTC", None


async def poke(clock: FakeClock, runner: TimerRunner) -> None:
    """Poke the runner and wait until it has looked again and gone back to sleep."""
    before = len(clock.sleeps)
    runner.poke()
    await clock.idle(before)


@pytest.fixture
async def harness() -> AsyncIterator[tuple[Harness, TimerRunner]]:
    clock = FakeClock(T0)
    h = Harness(clock)

    async def playlist_due(now: datetime) -> None:
        h.playlist_calls.append(now)
        assert h.deadline is not None
        h.deadline += timedelta(seconds=5)

    runner = TimerRunner(
        now=clock.now,
        sleep=clock.sleep,
        get_schedules=lambda: h.schedules,
        get_context=h.context,
        fire=h.fire,
        get_playlist_deadline=lambda: h.deadline,
        on_playlist_due=playlist_due,
    )
    task = asyncio.create_task(runner.run())
    await clock.idle()
    yield h, runner
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert not clock.sleepers


async def test_fires_at_the_right_times(harness: tuple[Harness, TimerRunner]) -> None:
    h, runner = harness
    h.schedules = [sched("07:00", "a"), sched("07:00:30", "b")]
    await poke(h.clock, runner)
    assert h.clock.wake_at == datetime(2026, 5, 4, 7, tzinfo=UTC)
    assert runner.next is not None
    assert runner.next[0].id == "a"
    await h.clock.advance(120)
    seven, half = datetime(2026, 5, 4, 7, tzinfo=UTC), datetime(2026, 5, 4, 7, 0, 30, tzinfo=UTC)
    assert h.fired == [("a", seven, seven), ("b", half, half)]
    await h.clock.advance(86_400)
    assert [(i, at) for i, at, _ in h.fired[2:]] == [
        ("a", datetime(2026, 5, 5, 7, tzinfo=UTC)),
        ("b", datetime(2026, 5, 5, 7, 0, 30, tzinfo=UTC)),
    ]
    assert all(fired_at == at for _, at, fired_at in h.fired)  # never late, never early
    assert max(h.clock.sleeps) <= 60.0  # it re-reads the wall clock at least every minute


async def test_poke_wakes_it(harness: tuple[Harness, TimerRunner]) -> None:
    h, runner = harness
    assert h.clock.wake_at == T0 + timedelta(seconds=60)
    h.schedules = [sched("06:59:10", "soon")]
    await poke(h.clock, runner)
    assert h.clock.wake_at == T0 + timedelta(seconds=10)
    await h.clock.advance(10)
    assert h.fired == [("soon", T0 + timedelta(seconds=10), T0 + timedelta(seconds=10))]


async def test_clock_jump_forward_fires_once(harness: tuple[Harness, TimerRunner]) -> None:
    h, _ = harness
    h.schedules = [sched("07:00", "a")]
    # NTP steps the clock three days ahead while the runner sleeps (a Pi with no RTC)
    h.clock.jump(datetime(2026, 5, 7, 9, 30, tzinfo=UTC))
    await h.clock.advance(60)  # the one-minute wake-up notices
    assert [(i, at) for i, at, _ in h.fired] == [("a", datetime(2026, 5, 7, 7, tzinfo=UTC))]
    # a two-hour step across the next fire also fires it once
    h.clock.jump(datetime(2026, 5, 8, 8, 0, tzinfo=UTC))
    await h.clock.advance(120)
    assert [(i, at) for i, at, _ in h.fired[1:]] == [("a", datetime(2026, 5, 8, 7, tzinfo=UTC))]


async def test_clock_going_back_does_not_refire(harness: tuple[Harness, TimerRunner]) -> None:
    h, runner = harness
    h.schedules = [sched("07:00", "a")]
    await poke(h.clock, runner)
    await h.clock.advance(61)
    assert len(h.fired) == 1
    h.clock.jump(T0 + timedelta(seconds=59))  # stepped back across 07:00
    await poke(h.clock, runner)
    await h.clock.advance(120)
    assert len(h.fired) == 1
    await h.clock.advance(86_400)
    assert [at for _, at, _ in h.fired] == [
        datetime(2026, 5, 4, 7, tzinfo=UTC),
        datetime(2026, 5, 5, 7, tzinfo=UTC),
    ]


async def test_failures_are_logged_and_the_loop_goes_on(
    harness: tuple[Harness, TimerRunner], caplog: pytest.LogCaptureFixture
) -> None:
    h, runner = harness
    h.schedules = [sched("07:00", "bad"), sched("07:00", "good")]
    h.fail = lambda s: s.id == "bad"
    await poke(h.clock, runner)
    with caplog.at_level(logging.ERROR, logger="lightbox.edge.timers"):
        await h.clock.advance(86_400 + 120)
    assert [i for i, _, _ in h.fired] == ["bad", "good", "bad", "good"]
    assert "schedule bad failed" in caplog.text


async def test_broken_schedule_source_is_retried(
    harness: tuple[Harness, TimerRunner], caplog: pytest.LogCaptureFixture
) -> None:
    h, runner = harness
    h.context_error = OSError("database is locked")
    h.schedules = [sched("07:00", "a")]
    with caplog.at_level(logging.ERROR, logger="lightbox.edge.timers"):
        await poke(h.clock, runner)
        await h.clock.advance(120)
    assert "timer check failed" in caplog.text
    assert [i for i, _, _ in h.fired] == ["a"]


async def test_playlist_deadline(harness: tuple[Harness, TimerRunner]) -> None:
    h, runner = harness
    h.deadline = T0 + timedelta(seconds=5)
    await poke(h.clock, runner)
    assert h.clock.wake_at == h.deadline
    await h.clock.advance(12)
    assert h.playlist_calls == [T0 + timedelta(seconds=5), T0 + timedelta(seconds=10)]
    assert h.clock.wake_at == T0 + timedelta(seconds=15)
    h.deadline = None  # playlist stopped
    await poke(h.clock, runner)
    await h.clock.advance(60)
    assert len(h.playlist_calls) == 2


async def test_playlist_handler_that_does_not_move_the_deadline() -> None:
    clock = FakeClock(T0)
    calls: list[datetime] = []

    async def stuck(now: datetime) -> None:
        calls.append(now)
        raise RuntimeError("cannot advance")

    runner = TimerRunner(
        now=clock.now,
        sleep=clock.sleep,
        get_schedules=list,
        get_context=lambda: ("UTC", None),
        fire=lambda s, at: asyncio.sleep(0),
        get_playlist_deadline=lambda: T0 + timedelta(seconds=1),
        on_playlist_due=stuck,
    )
    task = asyncio.create_task(runner.run())
    await clock.idle()
    await clock.advance(150)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # retried once a minute, never in a tight loop
    assert calls == [T0 + timedelta(seconds=s) for s in (1, 61, 121)]


async def test_real_sleep_and_poke() -> None:
    """With the real asyncio.sleep: a poke interrupts a long sleep at once."""
    checks: list[datetime] = []

    def schedules() -> list[Schedule]:
        checks.append(datetime.now(UTC))
        return []

    runner = TimerRunner(
        now=lambda: datetime.now(UTC),
        get_schedules=schedules,
        get_context=lambda: ("UTC", None),
        fire=lambda s, at: asyncio.sleep(0),
    )
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(0.05)
    assert len(checks) == 1
    runner.poke()
    await asyncio.sleep(0.05)
    assert len(checks) == 2
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_max_sleep_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TimerRunner(
            now=lambda: T0,
            get_schedules=list,
            get_context=lambda: ("UTC", None),
            fire=lambda s, at: asyncio.sleep(0),
            max_sleep_s=0,
        )
