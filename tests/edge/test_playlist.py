"""Playlist progression: order, shuffle, passes, steps, missing presets and catch-up."""

from __future__ import annotations

import time as walltime
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lightbox.edge.playlist import (
    PlaylistCursor,
    advance,
    catch_up,
    entry,
    from_status,
    next_at,
    pass_order,
    start,
    status,
)
from lightbox.protocol.library import Playlist

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def playlist(
    durations: list[float] | int = 3,
    *,
    repeat: int = 0,
    shuffle: bool = False,
    pid: str = "pl",
) -> Playlist:
    if isinstance(durations, int):
        durations = [10.0] * durations
    data: dict[str, Any] = {
        "id": pid,
        "name": pid,
        "entries": [{"preset": f"p{i}", "duration_s": d} for i, d in enumerate(durations)],
        "repeat": repeat,
        "shuffle": shuffle,
    }
    return Playlist.model_validate(data)


def begin(pl: Playlist, now: datetime = T0, seed: int = 7) -> PlaylistCursor:
    cursor = start(pl, now, seed)
    assert cursor is not None
    return cursor


def step(pl: Playlist, cursor: PlaylistCursor, now: datetime, n: int = 1) -> PlaylistCursor:
    nxt = advance(pl, cursor, now, n)
    assert nxt is not None
    return nxt


def presets(pl: Playlist, cursor: PlaylistCursor | None, count: int) -> list[str]:
    """The presets shown by ``count`` forward steps from ``cursor`` (inclusive)."""
    shown = []
    for _ in range(count):
        if cursor is None:
            break
        shown.append(entry(pl, cursor).preset)
        cursor = advance(pl, cursor, T0)
    return shown


def test_in_order_with_timing() -> None:
    pl = playlist([5, 10, 2.5])
    cursor = begin(pl)
    assert cursor.order == (0, 1, 2)
    assert (cursor.index, cursor.pass_, cursor.started_at) == (0, 0, T0)
    assert entry(pl, cursor).preset == "p0"
    assert next_at(pl, cursor) == T0 + timedelta(seconds=5)
    later = T0 + timedelta(seconds=6)
    cursor = step(pl, cursor, later)
    assert (entry(pl, cursor).preset, cursor.started_at) == ("p1", later)
    assert next_at(pl, cursor) == later + timedelta(seconds=10)


def test_repeat_forever_and_counted() -> None:
    assert presets(playlist(3), begin(playlist(3)), 8) == [
        "p0", "p1", "p2", "p0", "p1", "p2", "p0", "p1",
    ]  # fmt: skip
    twice = playlist(2, repeat=2)
    cursor = begin(twice)
    assert presets(twice, cursor, 10) == ["p0", "p1", "p0", "p1"]
    last = step(twice, cursor, T0, 3)
    assert last.pass_ == 1
    assert advance(twice, last, T0) is None
    once = playlist(1, repeat=1)
    assert advance(once, begin(once), T0) is None


def test_step_back_wraps_within_the_pass() -> None:
    pl = playlist(3)
    cursor = begin(pl)
    back = step(pl, cursor, T0, -1)
    assert (back.index, back.pass_) == (2, 0)
    assert step(pl, back, T0, -2).index == 0
    assert step(pl, back, T0, 1).pass_ == 1  # then forward again starts the next pass
    # backward never finishes a playlist
    one = playlist(2, repeat=1)
    assert advance(one, begin(one), T0, -1) is not None


def test_shuffle_is_deterministic_and_varies_by_seed() -> None:
    pl = playlist(8, shuffle=True)
    a, b = begin(pl, seed=1), begin(pl, seed=1)
    assert a.order == b.order
    assert sorted(a.order) == list(range(8))
    orders = {begin(pl, seed=s).order for s in range(20)}
    assert len(orders) > 10
    # the first pass follows random.Random(seed)
    import random

    expected = list(range(8))
    random.Random(1).shuffle(expected)
    assert a.order == tuple(expected)


def test_each_pass_is_reshuffled_and_never_repeats_at_the_seam() -> None:
    for size in (2, 3, 5):
        pl = playlist(size, shuffle=True)
        for seed in range(30):
            cursor = begin(pl, seed=seed)
            orders = [cursor.order]
            for _ in range(12):
                nxt = step(pl, cursor, T0, size)
                assert nxt.pass_ == cursor.pass_ + 1
                assert nxt.order[0] != cursor.order[-1]
                assert sorted(nxt.order) == list(range(size))
                cursor = nxt
                orders.append(cursor.order)
            if size == 5:
                assert len(set(orders)) > 3


def test_missing_presets_are_skipped() -> None:
    pl = playlist(4)
    have = {"p1", "p3"}.__contains__
    cursor = start(pl, T0, 1, have)
    assert cursor is not None
    assert entry(pl, cursor).preset == "p1"
    cursor = advance(pl, cursor, T0, 1, have)
    assert cursor is not None and entry(pl, cursor).preset == "p3"
    cursor = advance(pl, cursor, T0, 1, have)
    assert cursor is not None
    assert (entry(pl, cursor).preset, cursor.pass_) == ("p1", 1)
    back = advance(pl, cursor, T0, -1, have)
    assert back is not None and entry(pl, back).preset == "p3"
    assert start(pl, T0, 1, lambda _: False) is None
    assert advance(pl, cursor, T0, 1, lambda _: False) is None
    assert catch_up(pl, cursor, T0 + timedelta(hours=1), lambda _: False) is None


def test_cursor_must_fit_the_playlist() -> None:
    cursor = begin(playlist(3))
    with pytest.raises(ValueError, match="does not fit"):
        entry(playlist(4), cursor)
    with pytest.raises(ValueError, match="does not fit"):
        advance(playlist(3, pid="other"), cursor, T0)


def test_status_and_back() -> None:
    pl = playlist([5, 6, 7], shuffle=True)
    cursor = step(pl, begin(pl, seed=3), T0, 4)
    report = status(pl, cursor)
    assert report.playlist == "pl"
    assert report.pass_ == 1
    assert report.index == 1
    assert report.order == cursor.order
    assert report.preset == entry(pl, cursor).preset
    assert report.started_at == T0
    assert report.next_at == next_at(pl, cursor)
    assert report.model_dump(by_alias=True)["pass"] == 1
    again = from_status(pl, report)
    assert again is not None
    assert (again.order, again.index, again.pass_, again.started_at) == (
        cursor.order,
        cursor.index,
        cursor.pass_,
        cursor.started_at,
    )
    nxt = step(pl, again, T0, 2)  # into the next pass: never repeat at the seam
    assert nxt.order[0] != again.order[-1]
    assert from_status(playlist(4), report) is None
    assert from_status(playlist([5, 6, 7], pid="x"), report) is None


# -- catch-up ---------------------------------------------------------------------------


def replay(pl: Playlist, cursor: PlaylistCursor, now: datetime) -> PlaylistCursor | None:
    """The reference: step entry by entry, each starting when the previous one ended."""
    current: PlaylistCursor | None = cursor
    while current is not None:
        end = next_at(pl, current)
        assert end is not None
        if end > now:
            return current
        current = advance(pl, current, end)
    return None


def test_catch_up_within_the_current_entry_changes_nothing() -> None:
    pl = playlist(3)
    cursor = begin(pl)
    assert catch_up(pl, cursor, T0 + timedelta(seconds=9.999)) is cursor


def test_catch_up_keeps_the_timeline() -> None:
    pl = playlist([5, 10, 2.5])  # a pass lasts 17.5 s
    cursor = begin(pl)
    got = catch_up(pl, cursor, T0 + timedelta(seconds=16))
    assert got is not None
    assert (got.index, got.pass_, got.started_at) == (2, 0, T0 + timedelta(seconds=15))
    got = catch_up(pl, cursor, T0 + timedelta(seconds=17.5))
    assert got is not None
    assert (got.index, got.pass_, got.started_at) == (0, 1, T0 + timedelta(seconds=17.5))
    got = catch_up(pl, cursor, T0 + timedelta(seconds=17.5 * 1000 + 6))
    assert got is not None
    assert (got.index, got.pass_) == (1, 1000)
    assert got.started_at == T0 + timedelta(seconds=17.5 * 1000 + 5)


def test_catch_up_finishes_counted_playlists() -> None:
    pl = playlist([5, 5], repeat=3)  # 30 s in all
    cursor = begin(pl)
    got = catch_up(pl, cursor, T0 + timedelta(seconds=29.9))
    assert got is not None
    assert (got.index, got.pass_) == (1, 2)
    assert catch_up(pl, cursor, T0 + timedelta(seconds=30)) is None
    assert catch_up(pl, cursor, T0 + timedelta(days=400)) is None


def test_catch_up_over_years_is_fast_and_exact() -> None:
    pl = playlist([0.5, 0.7, 1.3, 2.0, 0.5], shuffle=True)
    cursor = step(pl, begin(pl, seed=11), T0, 2)
    later = T0 + timedelta(days=3 * 365, seconds=0.25)
    began = walltime.perf_counter()
    got = catch_up(pl, cursor, later)
    assert walltime.perf_counter() - began < 0.2
    assert got is not None
    assert got.started_at <= later
    end = next_at(pl, got)
    assert end is not None and end > later
    assert got.pass_ > 18_900_000  # 5 s passes over 3 years
    # the pass reached is the one stepping would reach, and it is a valid shuffle
    assert sorted(got.order) == list(range(5))
    # equals stepping through the last few passes from an exact earlier point
    mid = catch_up(pl, cursor, later - timedelta(seconds=30))
    assert mid is not None
    assert replay(pl, mid, later) == got


@settings(max_examples=150, deadline=None)
@given(
    durations=st.lists(st.sampled_from([0.5, 1.0, 2.5, 7.0, 30.0]), min_size=1, max_size=6),
    repeat=st.integers(0, 4),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
    skip=st.integers(0, 7),
    gap=st.floats(0.0, 400.0),
    missing=st.sets(st.integers(0, 5), max_size=3),
)
def test_catch_up_equals_stepping(
    durations: list[float],
    repeat: int,
    shuffle: bool,
    seed: int,
    skip: int,
    gap: float,
    missing: set[int],
) -> None:
    pl = playlist(durations, repeat=repeat, shuffle=shuffle)
    cursor: PlaylistCursor | None = begin(pl, seed=seed)
    for _ in range(skip):  # start from somewhere inside the run
        if cursor is None:
            return
        end = next_at(pl, cursor)
        assert end is not None
        cursor = advance(pl, cursor, end)
    if cursor is None:
        return
    now = cursor.started_at + timedelta(seconds=gap)
    assert catch_up(pl, cursor, now) == replay(pl, cursor, now)
    have = {f"p{i}" for i in range(len(durations)) if i not in missing}.__contains__
    got = catch_up(pl, cursor, now, have)
    # with missing presets: the reference steps with the same predicate
    expected: PlaylistCursor | None
    if not any(have(e.preset) for e in pl.entries):
        expected = None
    else:
        current = cursor
        end = next_at(pl, current)
        assert end is not None
        if not have(entry(pl, current).preset):
            end = current.started_at
        expected = current
        while end <= now:
            nxt = advance(pl, current, end, 1, have)
            if nxt is None:
                expected = None
                break
            current = expected = nxt
            end_at = next_at(pl, current)
            assert end_at is not None
            end = end_at
    assert got == expected


@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, 40), seed=st.integers(), pass_=st.integers(0, 10**9))
def test_every_pass_order_is_a_permutation(size: int, seed: int, pass_: int) -> None:
    pl = playlist(size, shuffle=True)
    order = pass_order(pl, seed, pass_, previous_last=size - 1)
    assert sorted(order) == list(range(size))
    if size > 1:
        assert order[0] != size - 1
    assert pass_order(pl, seed, pass_) == pass_order(pl, seed, pass_)
