from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lightbox.sync import ClockDriftError, Hlc, Timestamp, decode, encode
from lightbox.sync.clock import MAX_COUNTER
from lightbox.sync.errors import WireFormatError
from tests.sync.strategies import wide_timestamps


class FakeWall:
    def __init__(self, readings: list[int]) -> None:
        self.readings = readings
        self.i = 0

    def __call__(self) -> int:
        value = self.readings[min(self.i, len(self.readings) - 1)]
        self.i += 1
        return value


walls = st.integers(0, 2**40)
events = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), walls),
        st.tuples(
            st.just("observe"),
            walls,
            st.builds(Timestamp, st.integers(0, 2**40), st.integers(0, 100), st.just("cloud")),
        ),
    ),
    min_size=1,
    max_size=60,
)


@given(events)
def test_hlc_is_strictly_monotonic_and_after_what_it_observed(evs: list[tuple]) -> None:  # type: ignore[type-arg]
    now = [0]
    clock = Hlc("device", lambda: now[0], max_drift_ms=None)
    last = clock.last
    for ev in evs:
        now[0] = ev[1]
        if ev[0] == "tick":
            ts = clock.tick()
        else:
            ts = clock.observe(ev[2])
            assert ts > ev[2]
        assert ts > last
        assert ts.wall_ms >= now[0]
        last = ts


def test_tick_survives_the_wall_clock_going_backwards() -> None:
    clock = Hlc("device", FakeWall([1000, 1000, 500, 400, 2000]))
    stamps = [clock.tick() for _ in range(5)]
    assert stamps == sorted(stamps)
    assert [s.wall_ms for s in stamps] == [1000, 1000, 1000, 1000, 2000]
    assert [s.counter for s in stamps] == [0, 1, 2, 3, 0]


def test_counter_overflow_borrows_a_millisecond() -> None:
    clock = Hlc("device", lambda: 10, last=Timestamp(10, MAX_COUNTER, "device"))
    assert clock.tick() == Timestamp(11, 0, "device")


def test_restart_from_last_continues_after_it() -> None:
    # A Pi without RTC boots in 1970: the restored clock still moves forward.
    clock = Hlc("device", lambda: 0, last=Timestamp(1_700_000_000_000, 5, "cloud"))
    assert clock.tick() == Timestamp(1_700_000_000_000, 6, "device")


def test_observe_refuses_a_remote_clock_too_far_ahead() -> None:
    clock = Hlc("cloud", lambda: 1_000_000, max_drift_ms=3_600_000)
    before = clock.last
    with pytest.raises(ClockDriftError, match="ahead of the local clock"):
        clock.observe(Timestamp(1_000_000 + 3_600_001, 0, "device"))
    assert clock.last == before
    assert clock.observe(Timestamp(1_000_000 + 3_600_000, 0, "device")).wall_ms == 4_600_000


def test_no_drift_check_adopts_the_remote_time() -> None:
    clock = Hlc("device", lambda: 0, max_drift_ms=None)
    remote = Timestamp(1_700_000_000_000, 0, "cloud")
    assert clock.observe(remote) == Timestamp(1_700_000_000_000, 1, "device")
    assert clock.tick() == Timestamp(1_700_000_000_000, 2, "device")


def test_ties_are_broken_by_origin_device_wins() -> None:
    assert Timestamp(5, 1, "cloud") < Timestamp(5, 1, "device")
    assert Timestamp(5, 1, "device") < Timestamp(5, 2, "cloud") < Timestamp(6, 0, "cloud")


@given(wide_timestamps)
def test_encoding_round_trips(ts: Timestamp) -> None:
    assert decode(encode(ts)) == ts
    assert len(encode(ts)) == 16 + len(ts.origin)


@given(wide_timestamps, wide_timestamps)
def test_encoding_sorts_like_the_order(a: Timestamp, b: Timestamp) -> None:
    assert (encode(a) < encode(b)) == (a < b)
    assert (encode(a) == encode(b)) == (a == b)


@pytest.mark.parametrize("text", ["", "xyz", "0000000000000000", "00000000000g0000cloud", 5])
def test_decode_refuses_garbage(text: object) -> None:
    with pytest.raises(WireFormatError):
        decode(text)  # type: ignore[arg-type]


def test_timestamp_validates() -> None:
    with pytest.raises(ValueError, match="origin"):
        Timestamp(0, 0, "Cloud")
    with pytest.raises(ValueError, match="counter"):
        Timestamp(0, MAX_COUNTER + 1, "cloud")
