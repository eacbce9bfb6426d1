"""When schedules fire: DST, weekdays, zones, sun events, windows and catch-up."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from astral import Observer
from astral.sun import sunrise, sunset
from hypothesis import given, settings
from hypothesis import strategies as st

from lightbox.edge.schedule import (
    CATCH_UP_AFTER,
    check_schedule,
    due,
    fires_between,
    next_fire,
    upcoming,
)
from lightbox.protocol.library import WEEKDAYS, Schedule
from lightbox.protocol.settings import Location

BERLIN = Location(latitude=52.52, longitude=13.405)
TROMSO = Location(latitude=69.6492, longitude=18.9553)


def sched(
    at: str | None = "07:30",
    *,
    sid: str = "s",
    sun: str | None = None,
    offset: int = 0,
    days: tuple[str, ...] | None = None,
    tz: str | None = None,
    enabled: bool = True,
) -> Schedule:
    trigger: dict[str, Any] = (
        {"type": "sun", "event": sun, "offset_min": offset} if sun else {"type": "time", "at": at}
    )
    data: dict[str, Any] = {
        "id": sid,
        "name": sid,
        "enabled": enabled,
        "trigger": trigger,
        "timezone": tz,
        "action": {"type": "set", "power": True},
    }
    if days is not None:
        data["days"] = days
    return Schedule.model_validate(data)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


# -- time triggers ----------------------------------------------------------------------


def test_plain_daily_fire_is_strictly_after() -> None:
    s = sched("07:30")
    assert next_fire(s, utc(2026, 5, 4, 6, 0), "UTC", None) == utc(2026, 5, 4, 7, 30)
    # exactly at the fire time: the next one is tomorrow
    assert next_fire(s, utc(2026, 5, 4, 7, 30), "UTC", None) == utc(2026, 5, 5, 7, 30)
    assert next_fire(s, utc(2026, 5, 4, 7, 30, 1), "UTC", None) == utc(2026, 5, 5, 7, 30)


def test_seconds_are_honoured() -> None:
    s = sched("07:30:15")
    assert next_fire(s, utc(2026, 5, 4, 7, 30), "UTC", None) == utc(2026, 5, 4, 7, 30, 15)


def test_disabled_never_fires() -> None:
    assert next_fire(sched(enabled=False), utc(2026, 5, 4), "UTC", None) is None


def test_naive_after_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_fire(sched(), datetime(2026, 5, 4), "UTC", None)


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected"),
    [
        # 02:30 does not exist: shifted forward by the one-hour gap to 03:30 local
        ("Europe/Berlin", date(2026, 3, 29), "02:30", utc(2026, 3, 29, 1, 30)),
        ("America/New_York", date(2026, 3, 8), "02:30", utc(2026, 3, 8, 7, 30)),
        # 02:00 itself is the first missing minute: 03:00 local
        ("Europe/Berlin", date(2026, 3, 29), "02:00", utc(2026, 3, 29, 1, 0)),
        # just around the gap: unaffected
        ("Europe/Berlin", date(2026, 3, 29), "01:59", utc(2026, 3, 29, 0, 59)),
        ("Europe/Berlin", date(2026, 3, 29), "03:00", utc(2026, 3, 29, 1, 0)),
    ],
)
def test_spring_forward_gap(zone: str, day: date, at: str, expected: datetime) -> None:
    start = datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    fire = next_fire(sched(at), start, zone, None)
    assert fire == expected
    assert fire.astimezone(ZoneInfo(zone)).date() == day


def test_spring_forward_gap_shift_shows_as_0330() -> None:
    fire = next_fire(sched("02:30"), utc(2026, 3, 28, 12), "Europe/Berlin", None)
    assert fire is not None
    local = fire.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute, local.utcoffset()) == (3, 30, timedelta(hours=2))


@pytest.mark.parametrize(
    ("zone", "at", "first", "next_day"),
    [
        # Berlin falls back 03:00 CEST -> 02:00 CET on 2026-10-25: 02:30 happens twice
        ("Europe/Berlin", "02:30", utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)),
        # New York falls back 02:00 EDT -> 01:00 EST on 2026-11-01: 01:30 happens twice
        ("America/New_York", "01:30", utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)),
    ],
)
def test_fall_back_fires_once_at_first_occurrence(
    zone: str, at: str, first: datetime, next_day: datetime
) -> None:
    s = sched(at)
    day_before = first - timedelta(hours=12)
    assert next_fire(s, day_before, zone, None) == first
    # the second occurrence (one hour later) is not a fire
    assert next_fire(s, first, zone, None) == next_day
    assert fires_between(s, day_before, next_day - timedelta(seconds=1), zone, None) == [first]


def test_weekday_filter() -> None:
    s = sched("08:00", days=("sat", "sun"))
    # 2026-05-04 is a Monday
    assert next_fire(s, utc(2026, 5, 4), "UTC", None) == utc(2026, 5, 9, 8)
    assert next_fire(s, utc(2026, 5, 9, 8), "UTC", None) == utc(2026, 5, 10, 8)
    assert next_fire(s, utc(2026, 5, 10, 8), "UTC", None) == utc(2026, 5, 16, 8)
    one = sched("08:00", days=("mon",))
    assert next_fire(one, utc(2026, 5, 4, 8), "UTC", None) == utc(2026, 5, 11, 8)


def test_weekday_is_the_local_weekday() -> None:
    # Monday 00:30 in Tokyo is Sunday 15:30 UTC
    s = sched("00:30", days=("mon",), tz="Asia/Tokyo")
    assert next_fire(s, utc(2026, 5, 1), "UTC", None) == utc(2026, 5, 3, 15, 30)


def test_schedule_timezone_overrides_device_timezone() -> None:
    after = utc(2026, 7, 1)
    device = sched("07:00")
    own = sched("07:00", tz="America/New_York")
    assert next_fire(device, after, "Europe/Berlin", None) == utc(2026, 7, 1, 5)
    assert next_fire(own, after, "Europe/Berlin", None) == utc(2026, 7, 1, 11)
    assert next_fire(device, after, "America/New_York", None) == utc(2026, 7, 1, 11)


# -- sun triggers -----------------------------------------------------------------------


def test_sun_without_location() -> None:
    s = sched(sun="sunset", sid="dusk")
    assert next_fire(s, utc(2026, 6, 21), "Europe/Berlin", None) is None
    with pytest.raises(ValueError, match=r"schedule 'dusk' uses sunset but settings\.location"):
        check_schedule(s, None)
    check_schedule(s, BERLIN)
    check_schedule(sched("07:00"), None)


def test_berlin_sunrise_midsummer() -> None:
    zone = ZoneInfo("Europe/Berlin")
    fire = next_fire(sched(sun="sunrise"), utc(2026, 6, 20, 12), "Europe/Berlin", BERLIN)
    assert fire is not None
    observer = Observer(latitude=BERLIN.latitude, longitude=BERLIN.longitude)
    assert fire == sunrise(observer, date(2026, 6, 21), zone).astimezone(UTC)
    local = fire.astimezone(zone)
    expected = datetime(2026, 6, 21, 4, 43, tzinfo=zone)
    assert abs(local - expected) < timedelta(minutes=3)


def test_sunset_with_offsets() -> None:
    zone = ZoneInfo("Europe/Berlin")
    observer = Observer(latitude=BERLIN.latitude, longitude=BERLIN.longitude)
    event = sunset(observer, date(2026, 6, 21), zone).astimezone(UTC)
    after = utc(2026, 6, 21, 6)
    for offset in (-30, 0, 45):
        s = sched(sun="sunset", offset=offset)
        assert next_fire(s, after, "Europe/Berlin", BERLIN) == event + timedelta(minutes=offset)
    # Berlin midsummer sunset is about 21:33 CEST
    assert abs(event.astimezone(zone) - datetime(2026, 6, 21, 21, 33, tzinfo=zone)) < timedelta(
        minutes=3
    )


def test_large_negative_offset_reaches_into_the_previous_day() -> None:
    # sunrise - 12 h: the fire for Tuesday's sunrise happens on Monday evening
    s = sched(sun="sunrise", offset=-720, days=("tue",))
    fire = next_fire(s, utc(2026, 6, 22, 12), "Europe/Berlin", BERLIN)  # Monday noon
    assert fire is not None
    observer = Observer(latitude=BERLIN.latitude, longitude=BERLIN.longitude)
    rise = sunrise(observer, date(2026, 6, 23), ZoneInfo("Europe/Berlin")).astimezone(UTC)
    assert fire == rise - timedelta(hours=12)


def test_polar_night_has_no_sunrise_within_eight_days() -> None:
    s = sched(sun="sunrise")
    assert next_fire(s, utc(2026, 12, 10), "Europe/Oslo", TROMSO) is None


def test_polar_night_skips_to_the_first_sunrise() -> None:
    s = sched(sun="sunrise")
    fire = next_fire(s, utc(2027, 1, 12), "Europe/Oslo", TROMSO)
    assert fire is not None
    local_day = fire.astimezone(ZoneInfo("Europe/Oslo")).date()
    assert date(2027, 1, 13) <= local_day <= date(2027, 1, 20)
    observer = Observer(latitude=TROMSO.latitude, longitude=TROMSO.longitude)
    with pytest.raises(ValueError, match="below the horizon"):
        sunrise(observer, local_day - timedelta(days=1), ZoneInfo("Europe/Oslo"))


def test_midnight_sun_has_no_sunset() -> None:
    assert next_fire(sched(sun="sunset"), utc(2026, 6, 21), "Europe/Oslo", TROMSO) is None


# -- due and upcoming -------------------------------------------------------------------


def test_due_window_is_half_open_and_ordered() -> None:
    a = sched("07:00", sid="a")
    b = sched("06:00", sid="b")
    c = sched("07:00", sid="c")
    got = due([a, b, c], utc(2026, 5, 4, 5), utc(2026, 5, 4, 7), "UTC", None)
    assert [(s.id, t) for s, t in got] == [
        ("b", utc(2026, 5, 4, 6)),
        ("a", utc(2026, 5, 4, 7)),
        ("c", utc(2026, 5, 4, 7)),
    ]
    # last_check itself is excluded, now included
    assert due([b], utc(2026, 5, 4, 6), utc(2026, 5, 4, 7), "UTC", None) == []
    assert due([b], utc(2026, 5, 4, 7), utc(2026, 5, 4, 7), "UTC", None) == []
    assert due([b], utc(2026, 5, 4, 8), utc(2026, 5, 4, 7), "UTC", None) == []


def test_due_within_a_day_runs_every_fire() -> None:
    # Berlin springs forward on 2026-03-29: that local day is 23 h long, so a window of
    # 23 h 1 min holds two fires of a daily 03:30 schedule, and both run.
    s = sched("03:30")
    got = due([s], utc(2026, 3, 28, 2, 29), utc(2026, 3, 29, 1, 30), "Europe/Berlin", None)
    assert [t for _, t in got] == [utc(2026, 3, 28, 2, 30), utc(2026, 3, 29, 1, 30)]
    # a window of exactly CATCH_UP_AFTER is not a catch-up
    now = utc(2026, 5, 4, 3, 30)
    got = due([s], now - CATCH_UP_AFTER, now, "UTC", None)
    assert [t for _, t in got] == [now]
    got = due([s], now - CATCH_UP_AFTER - timedelta(seconds=1), now, "UTC", None)
    assert [t for _, t in got] == [now]  # catch-up: the earlier fire is dropped


def test_fall_back_window_longer_than_a_day_is_a_catch_up() -> None:
    # Berlin falls back on 2026-10-25: 24 h 1 min from 02:29 CEST on the 24th to 02:30
    # (first occurrence) on the 25th hold two fires, but the window is a catch-up.
    s = sched("02:30")
    last, now = utc(2026, 10, 24, 0, 29), utc(2026, 10, 25, 0, 30)
    assert fires_between(s, last, now, "Europe/Berlin", None) == [
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),
    ]
    assert [t for _, t in due([s], last, now, "Europe/Berlin", None)] == [utc(2026, 10, 25, 0, 30)]


def test_catch_up_runs_only_the_latest_missed_fire() -> None:
    on = sched("07:00", sid="on")
    off = sched("23:00", sid="off")
    weekly = sched("12:00", sid="weekly", days=("wed",))
    # off for three weeks; back on Monday 2026-05-25 at 08:00
    got = due([off, on, weekly], utc(2026, 5, 4), utc(2026, 5, 25, 8), "UTC", None)
    assert [(s.id, t) for s, t in got] == [
        ("weekly", utc(2026, 5, 20, 12)),
        ("off", utc(2026, 5, 24, 23)),
        ("on", utc(2026, 5, 25, 7)),
    ]


def test_catch_up_skips_what_did_not_fire_in_the_window() -> None:
    weekly = sched("12:00", sid="weekly", days=("wed",))
    # Thursday to Tuesday, 5 days: no Wednesday noon inside
    got = due([weekly], utc(2026, 5, 7), utc(2026, 5, 12, 23), "UTC", None)
    assert got == []


def test_upcoming_picks_the_earliest() -> None:
    a = sched("09:00", sid="a")
    b = sched("08:00", sid="b", tz="Europe/Berlin")  # 06:00 UTC in May
    c = sched(sun="sunset", sid="c")  # no location: never
    assert upcoming([a, b, c], utc(2026, 5, 4), "UTC", None) == (b, utc(2026, 5, 4, 6))
    assert upcoming([c], utc(2026, 5, 4), "UTC", None) is None
    assert upcoming([], utc(2026, 5, 4), "UTC", None) is None


# -- properties -------------------------------------------------------------------------

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata")


@settings(max_examples=300, deadline=None)
@given(
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    second=st.sampled_from([0, 0, 30, 59]),
    days=st.sets(st.sampled_from(WEEKDAYS), min_size=1).map(lambda d: tuple(sorted(d))),
    zone=st.sampled_from(ZONES),
    after=st.datetimes(datetime(2020, 1, 1), datetime(2035, 12, 31)),
    probe=st.floats(0.0, 1.0),
)
def test_time_trigger_properties(
    hour: int,
    minute: int,
    second: int,
    days: tuple[str, ...],
    zone: str,
    after: datetime,
    probe: float,
) -> None:
    s = sched(f"{hour:02d}:{minute:02d}:{second:02d}", days=days)
    start = after.replace(tzinfo=UTC)
    fire = next_fire(s, start, zone, None)
    assert fire is not None
    assert fire > start
    assert fire - start <= timedelta(days=7, hours=2)
    tz = ZoneInfo(zone)
    local = fire.astimezone(tz)
    wall = time(hour, minute, second)
    if local.time() == wall:
        assert WEEKDAYS[local.weekday()] in days
        assert local.fold == 0  # the first occurrence of a repeated time
    else:
        # in a DST gap: the wall time does not exist on that date
        naive = datetime.combine(local.date(), wall)
        roundtrip = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
        assert roundtrip.replace(tzinfo=None) != naive
        assert WEEKDAYS[local.date().weekday()] in days
    # consistency: from any instant in between, the same fire is next
    mid = start + (fire - start) * probe
    if mid < fire:
        assert next_fire(s, mid, zone, None) == fire
    # and nothing fires in between
    assert fires_between(s, start, fire - timedelta(microseconds=1), zone, None) == []


@settings(max_examples=60, deadline=None)
@given(
    event=st.sampled_from(["sunrise", "sunset"]),
    offset=st.integers(-180, 180),
    after=st.datetimes(datetime(2024, 1, 1), datetime(2030, 12, 31)),
    lat=st.floats(-60, 60),
    lon=st.floats(-179, 179),
)
def test_sun_trigger_properties(
    event: str, offset: int, after: datetime, lat: float, lon: float
) -> None:
    location = Location(latitude=lat, longitude=lon)
    s = sched(sun=event, offset=offset)
    start = after.replace(tzinfo=UTC)
    fire = next_fire(s, start, "UTC", location)
    assert fire is not None  # no polar days below 60 degrees
    assert fire > start
    assert fire - start < timedelta(days=2, hours=4)


@settings(max_examples=100, deadline=None)
@given(minute=st.integers(0, 59), second=st.integers(0, 59))
def test_every_time_in_berlin_dst_hours(minute: int, second: int) -> None:
    s = sched(f"02:{minute:02d}:{second:02d}")
    # spring forward (2026-03-29): 02:mm:ss CET does not exist, fires at 03:mm:ss CEST
    spring = next_fire(s, utc(2026, 3, 28, 12), "Europe/Berlin", None)
    assert spring == utc(2026, 3, 29, 1, minute, second)
    # fall back (2026-10-25): 02:mm:ss happens in CEST then CET; fires in CEST only
    fall = next_fire(s, utc(2026, 10, 24, 12), "Europe/Berlin", None)
    assert fall == utc(2026, 10, 25, 0, minute, second)
    assert next_fire(s, fall, "Europe/Berlin", None) == utc(2026, 10, 26, 1, minute, second)
