"""The timer task: fires due schedules and wakes a running playlist at its deadline.

:class:`TimerRunner` owns no state of its own that matters: what is scheduled, what a
playlist's deadline is and what firing means are all injected. It only decides *when* to
look, using the pure rules of :mod:`lightbox.edge.schedule`:

- it sleeps until the earliest of the next schedule fire and the playlist deadline, but
  never longer than ``max_sleep_s`` (60 s): the wall clock can jump (a Raspberry Pi has no
  real-time clock and steps its clock when NTP syncs after boot), and a monotonic sleep
  would not notice;
- :meth:`TimerRunner.poke` wakes it at once (schedules, settings or the playlist changed);
- every fire in ``(last_check, now]`` runs exactly once, in time order; a window longer
  than a day (the clock jumped forward) runs only the latest fire of each schedule;
- when the wall clock goes back, the window restarts at the new time; a fire already run
  at the same instant is not run again;
- an exception from ``fire`` or ``on_playlist_due`` is logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from lightbox.edge.schedule import due, upcoming
from lightbox.protocol.library import Schedule
from lightbox.protocol.settings import Location

__all__ = ["TimerRunner"]

log = logging.getLogger(__name__)


async def _no_playlist(now: datetime) -> None:
    return None


class TimerRunner:
    """Runs schedules and the playlist deadline against an injected clock.

    ``now`` returns the wall clock (aware, UTC); ``sleep`` waits that many seconds (a fake
    in tests). ``get_schedules`` and ``get_context`` (``(device_tz, location)``) are called
    on every wake-up and should be quick. ``on_playlist_due`` is given the current time
    once the deadline from ``get_playlist_deadline`` has passed; it is expected to move the
    deadline (if it does not, it is called again after ``max_sleep_s``).
    """

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        get_schedules: Callable[[], list[Schedule]],
        get_context: Callable[[], tuple[str, Location | None]],
        fire: Callable[[Schedule, datetime], Awaitable[None]],
        get_playlist_deadline: Callable[[], datetime | None] = lambda: None,
        on_playlist_due: Callable[[datetime], Awaitable[None]] = _no_playlist,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        since: datetime | None = None,
        max_sleep_s: float = 60.0,
    ) -> None:
        if max_sleep_s <= 0:
            raise ValueError("max_sleep_s must be positive")
        self._now = now
        self._get_schedules = get_schedules
        self._get_context = get_context
        self._fire = fire
        self._get_deadline = get_playlist_deadline
        self._on_playlist_due = on_playlist_due
        self._sleep = sleep
        self._max_sleep = timedelta(seconds=max_sleep_s)
        self._wake = asyncio.Event()
        self._fired: dict[str, datetime] = {}
        self._handled: tuple[datetime, datetime] | None = None  # (deadline, handled at)
        self.last_check: datetime | None = since
        """Fires up to this instant have been run."""
        self.next: tuple[Schedule, datetime] | None = None
        """The schedule expected to fire next, and when (as of the last wake-up)."""

    def poke(self) -> None:
        """Look again now: schedules, settings or the playlist changed. Sync, loop-safe."""
        self._wake.set()

    async def run(self) -> None:
        """Loop until cancelled."""
        if self.last_check is None:
            self.last_check = self._now()
        while True:
            self._wake.clear()
            try:
                delay = await self._tick()
            except Exception:
                log.exception("timer check failed; trying again in %s", self._max_sleep)
                delay = self._max_sleep.total_seconds()
            await self._sleep_or_wake(delay)

    async def _tick(self) -> float:
        """Run what is due; return how long to sleep before looking again."""
        assert self.last_check is not None
        now = self._now()
        if now < self.last_check:
            log.warning(
                "wall clock went back from %s to %s", self.last_check.isoformat(), now.isoformat()
            )
            self.last_check = now
        schedules = list(self._get_schedules())
        device_tz, location = self._get_context()
        for schedule, at in due(schedules, self.last_check, now, device_tz, location):
            if self._fired.get(schedule.id) == at:
                continue  # already run before the clock went back
            self._fired[schedule.id] = at
            try:
                await self._fire(schedule, at)
            except Exception:
                log.exception("schedule %s failed at %s", schedule.id, at.isoformat())
        self.last_check = now

        wake = now + self._max_sleep
        self.next = upcoming(schedules, now, device_tz, location)
        if self.next is not None:
            wake = min(wake, self.next[1])

        current = self._now()
        deadline = self._get_deadline()
        if deadline is not None and deadline <= current and self._should_handle(deadline, current):
            self._handled = (deadline, current)
            try:
                await self._on_playlist_due(current)
            except Exception:
                log.exception("playlist step due at %s failed", deadline.isoformat())
            deadline = self._get_deadline()
        if deadline is not None:
            if deadline > current:
                wake = min(wake, deadline)
            elif self._handled is not None:  # not moved by the handler: retry later
                wake = min(wake, self._handled[1] + self._max_sleep)
        return max((wake - self._now()).total_seconds(), 0.0)

    def _should_handle(self, deadline: datetime, now: datetime) -> bool:
        if self._handled is None or self._handled[0] != deadline:
            return True
        handled_at = self._handled[1]
        return now < handled_at or now - handled_at >= self._max_sleep

    async def _sleep_or_wake(self, delay: float) -> None:
        if self._wake.is_set():
            return
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
