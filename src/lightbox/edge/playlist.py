"""How a playlist progresses: a pure state machine over :class:`Playlist`.

A :class:`PlaylistCursor` says which entry is showing, since when, in which pass and in
which play order. Every function takes the instant it needs and returns a new cursor;
``None`` means the playlist has finished (its ``repeat`` passes are done; what is shown
then, per ``playlist.end``, is the service's business).

- Play order: the entries in their listed order, or with ``shuffle`` a permutation drawn
  from ``random.Random(seed)`` for the first pass and from a seed derived from
  ``(seed, pass)`` for each later pass. With more than one entry a new pass never starts
  with the entry that ended the previous pass. The order of any pass is computed directly
  from the seed (O(entries)), never by replaying the passes before it.
- Presets that no longer exist: the functions that move the cursor accept
  ``available(preset_id) -> bool`` and skip entries for which it is false, taking no time.
  When no entry is available they return ``None``. Entry indexes stay those of the stored
  playlist, so deleting a preset mid-play does not shift the cursor.
- :func:`advance` is a user or timer step and starts the new entry at ``now``;
  :func:`catch_up` replays the timeline exactly: each entry starts when the previous one
  ended, so a device that was busy or asleep resumes where the playlist would be.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from lightbox.protocol.library import Playlist, PlaylistEntry
from lightbox.protocol.state import PlaylistStatus

__all__ = [
    "Available",
    "PlaylistCursor",
    "advance",
    "catch_up",
    "entry",
    "from_status",
    "next_at",
    "pass_order",
    "start",
    "status",
]

Available = Callable[[str], bool]
"""Whether a preset id can be shown (exists); ``None`` in place of it: all can."""


@dataclass(frozen=True)
class PlaylistCursor:
    """Where a running playlist is. ``pass_`` counts completed passes (0 in the first)."""

    playlist_id: str
    order: tuple[int, ...]
    index: int
    pass_: int
    started_at: datetime
    seed: int


def _raw_order(count: int, seed: int, pass_: int) -> list[int]:
    rng = random.Random(seed) if pass_ == 0 else random.Random(f"lightbox/{seed}/{pass_}")
    order = list(range(count))
    rng.shuffle(order)
    return order


def pass_order(
    playlist: Playlist, seed: int, pass_: int, previous_last: int | None = None
) -> tuple[int, ...]:
    """The play order of pass number ``pass_`` (0-based): entry indexes.

    ``previous_last`` is the entry that ended the pass before; a shuffled pass of more than
    one entry does not start with it (its first two positions are swapped instead).
    """
    count = len(playlist.entries)
    if not playlist.shuffle:
        return tuple(range(count))
    order = _raw_order(count, seed, pass_)
    if count > 1 and order[0] == previous_last:
        order[0], order[1] = order[1], order[0]
    return tuple(order)


def _order_after(playlist: Playlist, cursor: PlaylistCursor, pass_: int) -> tuple[int, ...]:
    """The order of a pass after the cursor's, computed directly (no replay of passes).

    The entry that ends the pass before ``pass_`` is known without replaying: for the pass
    right after the cursor's it is the cursor's last; with three entries or more the swap
    in :func:`pass_order` never moves the last position, so it is the last of that pass's
    unadjusted shuffle; with two entries every later pass is (other, last) and keeps the
    cursor's last.
    """
    count = len(cursor.order)
    if pass_ == cursor.pass_ + 1 or count < 3:
        previous_last = cursor.order[-1]
    else:
        previous_last = _raw_order(count, cursor.seed, pass_ - 1)[-1]
    return pass_order(playlist, cursor.seed, pass_, previous_last)


def _check(playlist: Playlist, cursor: PlaylistCursor) -> None:
    if cursor.playlist_id != playlist.id or len(cursor.order) != len(playlist.entries):
        raise ValueError(
            f"cursor of playlist {cursor.playlist_id!r} ({len(cursor.order)} entries) does not "
            f"fit playlist {playlist.id!r} ({len(playlist.entries)} entries): start it again"
        )


def _duration(item: PlaylistEntry) -> timedelta:
    return timedelta(seconds=item.duration_s)


def _usable(playlist: Playlist, available: Available | None) -> list[bool]:
    return [available is None or available(item.preset) for item in playlist.entries]


def _finished(playlist: Playlist, completed_passes: int) -> bool:
    return playlist.repeat != 0 and completed_passes >= playlist.repeat


def start(
    playlist: Playlist, now: datetime, seed: int, available: Available | None = None
) -> PlaylistCursor | None:
    """The first available entry of the first pass, starting at ``now``.

    ``None`` when no entry's preset is available.
    """
    cursor = PlaylistCursor(
        playlist_id=playlist.id,
        order=pass_order(playlist, seed, 0),
        index=0,
        pass_=0,
        started_at=now,
        seed=seed,
    )
    if available is None or available(entry(playlist, cursor).preset):
        return cursor
    return advance(playlist, cursor, now, 1, available)


def from_status(playlist: Playlist, status: PlaylistStatus) -> PlaylistCursor | None:
    """Rebuild a cursor from a stored ``State.playlist`` (after a restart).

    ``None`` when the status does not fit the playlist (it was edited since). The status
    does not hold the shuffle seed, so one is derived from it: the current pass goes on in
    its stored order, later passes are shuffled afresh (still deterministically).
    """
    count = len(playlist.entries)
    if (
        status.playlist != playlist.id
        or sorted(status.order) != list(range(count))
        or not 0 <= status.index < count
        or playlist.entries[status.order[status.index]].preset != status.preset
    ):
        return None
    started_ms = int(status.started_at.timestamp() * 1000)
    seed = (started_ms * 31 + sum(i * p for i, p in enumerate(status.order, 1))) % 2**31
    return PlaylistCursor(
        playlist_id=playlist.id,
        order=tuple(status.order),
        index=status.index,
        pass_=status.pass_,
        started_at=status.started_at,
        seed=seed,
    )


def entry(playlist: Playlist, cursor: PlaylistCursor) -> PlaylistEntry:
    """The entry showing now."""
    _check(playlist, cursor)
    return playlist.entries[cursor.order[cursor.index]]


def next_at(playlist: Playlist, cursor: PlaylistCursor) -> datetime | None:
    """When the entry showing now ends (and the next one starts)."""
    return cursor.started_at + _duration(entry(playlist, cursor))


def _step_forward(playlist: Playlist, cursor: PlaylistCursor) -> PlaylistCursor | None:
    if cursor.index + 1 < len(cursor.order):
        return replace(cursor, index=cursor.index + 1)
    completed = cursor.pass_ + 1
    if _finished(playlist, completed):
        return None
    order = _order_after(playlist, cursor, completed)
    return replace(cursor, order=order, index=0, pass_=completed)


def advance(
    playlist: Playlist,
    cursor: PlaylistCursor,
    now: datetime,
    step: int = 1,
    available: Available | None = None,
) -> PlaylistCursor | None:
    """Move ``step`` entries (negative: back) and start that entry at ``now``.

    Going forward past the last entry begins the next pass (``None`` when the playlist's
    passes are done); going back wraps to the end of the current pass. Entries whose preset
    is not ``available`` are skipped and not counted. ``None`` when no entry is available.
    """
    _check(playlist, cursor)
    usable = _usable(playlist, available)
    if not any(usable):
        return None
    current: PlaylistCursor | None = cursor
    count = len(cursor.order)
    for _ in range(abs(step)):
        assert current is not None
        while True:
            if step > 0:
                current = _step_forward(playlist, current)
                if current is None:
                    return None
            else:
                current = replace(current, index=(current.index - 1) % count)
            if usable[current.order[current.index]]:
                break
    assert current is not None
    return replace(current, started_at=now)


def catch_up(
    playlist: Playlist,
    cursor: PlaylistCursor,
    now: datetime,
    available: Available | None = None,
) -> PlaylistCursor | None:
    """Move past every entry that has ended by ``now``, as if the timeline had run.

    Each entry starts exactly when the previous one ended. Whole passes inside a long gap
    are skipped with integer arithmetic on their total duration, so the work is O(entries)
    whatever the gap. ``None`` when the playlist finished on the way, or nothing is
    available.
    """
    _check(playlist, cursor)
    usable = _usable(playlist, available)
    if not any(usable):
        return None
    durations = [_duration(item) for item in playlist.entries]
    current = cursor
    # If the current entry is unavailable it has no length: it ends when it started.
    slot = current.order[current.index]
    end = current.started_at + (durations[slot] if usable[slot] else timedelta(0))
    if end > now:
        return current
    # 1. The rest of the current pass, entry by entry.
    while current.index + 1 < len(current.order):
        current = replace(current, index=current.index + 1, started_at=end)
        slot = current.order[current.index]
        if usable[slot]:
            end = current.started_at + durations[slot]
            if end > now:
                return current
    # 2. Whole passes, by arithmetic: every pass lasts the same (the order changes, the sum
    #    of its available entries does not).
    whole = sum((d for d, ok in zip(durations, usable, strict=True) if ok), timedelta(0))
    passes = (now - end) // whole  # whole passes that have ended by now, after this one
    completed = current.pass_ + 1 + passes
    if _finished(playlist, completed):
        return None
    pass_start = end + passes * whole
    # 3. The pass we land in, entry by entry: one of its entries ends after now.
    order = _order_after(playlist, cursor, completed)
    for index, slot in enumerate(order):
        if not usable[slot]:
            continue
        end = pass_start + durations[slot]
        if end > now:
            return replace(
                current, order=order, index=index, pass_=completed, started_at=pass_start
            )
        pass_start = end
    raise AssertionError("a whole pass fitted in less than its own duration")  # unreachable


def status(playlist: Playlist, cursor: PlaylistCursor) -> PlaylistStatus:
    """The ``State.playlist`` report for ``cursor``."""
    return PlaylistStatus(
        playlist=playlist.id,
        index=cursor.index,
        preset=entry(playlist, cursor).preset,
        pass_=cursor.pass_,
        order=cursor.order,
        started_at=cursor.started_at,
        next_at=next_at(playlist, cursor),
    )
