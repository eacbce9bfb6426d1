"""Hybrid logical clock (Kulkarni, Demirbas et al., 2014) and its timestamps.

A :class:`Timestamp` is ``(wall_ms, counter, origin)``. Timestamps are totally ordered by
that tuple: wall time first, then the counter, then the origin name as a plain string, so
that an exact tie of ``(wall_ms, counter)`` between the two sides is always broken the same
way: ``"cloud" < "device"``, the device wins an exact tie (the person in front of the
matrix sees what they did).

:class:`Hlc` hands out timestamps that are strictly increasing even when the injected wall
clock stands still or goes backwards, and that are greater than every timestamp observed
from the other side (causality: an edit made after seeing a remote edit wins over it).

The string form (:func:`encode`) is fixed-width hex of ``wall_ms`` (12 digits) and
``counter`` (4 digits) followed by the origin, so encoded timestamps sort like timestamps.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lightbox.sync.errors import ClockDriftError, WireFormatError

WALL_DIGITS = 12
COUNTER_DIGITS = 4
MAX_WALL_MS: int = 16**WALL_DIGITS - 1
MAX_COUNTER: int = 16**COUNTER_DIGITS - 1
DEFAULT_MAX_DRIFT_MS = 3_600_000

ORIGIN_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_ENCODED = re.compile(r"^([0-9a-f]{12})([0-9a-f]{4})([a-z][a-z0-9_-]{0,31})$")

CLOUD = "cloud"
DEVICE = "device"


@dataclass(frozen=True, order=True, slots=True)
class Timestamp:
    """One HLC reading; compares by ``(wall_ms, counter, origin)``."""

    wall_ms: int
    counter: int
    origin: str

    def __post_init__(self) -> None:
        if not 0 <= self.wall_ms <= MAX_WALL_MS:
            raise ValueError(f"wall_ms {self.wall_ms} is outside 0..{MAX_WALL_MS}")
        if not 0 <= self.counter <= MAX_COUNTER:
            raise ValueError(f"counter {self.counter} is outside 0..{MAX_COUNTER}")
        if not ORIGIN_PATTERN.match(self.origin):
            raise ValueError(f"origin {self.origin!r} must match {ORIGIN_PATTERN.pattern}")

    def __str__(self) -> str:
        return encode(self)


def encode(ts: Timestamp) -> str:
    """``Timestamp(0x18c2, 3, "device")`` → ``"0000000018c20003device"``; sorts like ``ts``."""
    return f"{ts.wall_ms:012x}{ts.counter:04x}{ts.origin}"


def decode(text: str) -> Timestamp:
    """The inverse of :func:`encode`; :class:`WireFormatError` on anything else."""
    match = _ENCODED.match(text) if isinstance(text, str) else None
    if match is None:
        raise WireFormatError(f"not an encoded timestamp: {text!r}")
    return Timestamp(int(match[1], 16), int(match[2], 16), match[3])


def latest(*stamps: Timestamp | None) -> Timestamp | None:
    """The greatest of ``stamps``, ignoring ``None`` (``None`` if all are)."""
    present = [s for s in stamps if s is not None]
    return max(present) if present else None


class Hlc:
    """A hybrid logical clock for one replica.

    ``now_ms`` reads the wall clock (injected: this module never reads time itself).
    ``last`` restores the clock after a restart: pass the greatest timestamp the replica
    ever stored or acknowledged (``Document.top``), so that new timestamps are greater than
    everything before the restart even if the wall clock went back (a Pi with no RTC boots
    in 1970 or with the time it had when it was switched off).

    ``max_drift_ms`` bounds how far a remote timestamp may lie in the local clock's future
    (:meth:`observe` raises :class:`ClockDriftError` beyond it). ``None`` turns the check
    off: a replica whose own clock is not trustworthy yet (no NTP sync since boot) should
    not refuse the reference side; it adopts the remote time instead.
    """

    def __init__(
        self,
        origin: str,
        now_ms: Callable[[], int],
        *,
        last: Timestamp | None = None,
        max_drift_ms: int | None = DEFAULT_MAX_DRIFT_MS,
    ) -> None:
        if not ORIGIN_PATTERN.match(origin):
            raise ValueError(f"origin {origin!r} must match {ORIGIN_PATTERN.pattern}")
        self.origin = origin
        self.max_drift_ms = max_drift_ms
        self._now_ms = now_ms
        self._wall = last.wall_ms if last is not None else 0
        self._counter = last.counter if last is not None else 0

    @property
    def last(self) -> Timestamp:
        """The latest reading handed out or observed (as this replica's timestamp)."""
        return Timestamp(self._wall, self._counter, self.origin)

    def _read(self) -> int:
        now: int = int(self._now_ms())
        return min(max(now, 0), MAX_WALL_MS)

    def _set(self, wall: int, counter: int) -> Timestamp:
        if counter > MAX_COUNTER:
            # The counter is bounded for the fixed-width encoding: borrow one millisecond.
            # The clock then runs ahead of the wall clock by at most 1 ms per 65536 events.
            wall, counter = wall + 1, 0
        self._wall, self._counter = wall, counter
        return Timestamp(wall, counter, self.origin)

    def tick(self) -> Timestamp:
        """A timestamp for a local event: greater than every earlier one."""
        physical = self._read()
        if physical > self._wall:
            return self._set(physical, 0)
        return self._set(self._wall, self._counter + 1)

    def check(self, remote: Timestamp) -> None:
        """Raise :class:`ClockDriftError` if ``remote`` is too far ahead; change nothing."""
        if self.max_drift_ms is None:
            return
        physical = self._read()
        if remote.wall_ms > physical + self.max_drift_ms:
            raise ClockDriftError(remote.wall_ms, physical, self.max_drift_ms)

    def observe(self, remote: Timestamp) -> Timestamp:
        """Take in a received timestamp; the result is greater than it and than ``last``.

        Raises :class:`ClockDriftError` (and changes nothing) when ``remote`` is more than
        ``max_drift_ms`` ahead of the local wall clock.
        """
        self.check(remote)
        physical = self._read()
        wall = max(self._wall, remote.wall_ms, physical)
        if wall == self._wall == remote.wall_ms:
            counter = max(self._counter, remote.counter) + 1
        elif wall == self._wall:
            counter = self._counter + 1
        elif wall == remote.wall_ms:
            counter = remote.counter + 1
        else:
            counter = 0
        return self._set(wall, counter)
